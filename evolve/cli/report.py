"""`evolve report NAME`: the campaign's HTML report and PNG plots, written beside each other."""

from __future__ import annotations

from pathlib import Path

import typer

from evolve import lineage
from evolve.cli import app
from evolve.cli.render import out, print_json
from evolve.lineage.db import POPULATIONS, corruption_as_input_error

DB_HELP = "Any SQLAlchemy URL (sqlite:///..., postgresql+psycopg://...); NAME is then the campaign's name in it."


def _default_out(name: str, db_url: str | None) -> Path:
    """The campaign folder's report.html. With --db the folder is populations/NAME, made if missing (a
    PostgreSQL campaign's files live there too)."""
    if db_url is None:
        folder = Path(name) if ("/" in name or name in (".", "..")) else POPULATIONS / name
    else:
        folder = POPULATIONS / name
        folder.mkdir(parents=True, exist_ok=True)
    return folder / "report.html"


@app.command()
def report(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    out_file: Path = typer.Option(None, "--out", help="HTML file to write (default: CAMPAIGN/report.html)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    max_nodes: int = typer.Option(120, "--max-nodes", min=1, help="Most lineage nodes the tree draws."),
    as_json: bool = typer.Option(False, "--json", help='Print {"html": path, "pngs": [...]} instead.'),
) -> None:
    """Write a self-contained HTML report (plots, lineage explorer, leaderboard, every candidate, failures) and
    its PNGs."""
    # Here, not at the top: matplotlib takes half a second to import, which every other command would pay.
    from evolve.report import write_report

    url, campaign_name = lineage.campaign_location(name, db)
    d = lineage.open_db(url, create=False, readonly=True)
    try:
        with corruption_as_input_error(url if db is None else "the database"):
            cid = lineage.campaign_id(d, campaign_name, sole_fallback=db is None)
            target = out_file if out_file is not None else _default_out(name, db)
            files = write_report(d, cid, target, max_nodes=max_nodes)
    finally:
        d.close()
    if as_json:
        print_json({"html": str(files.html), "pngs": [str(p) for p in files.pngs]})
        return
    if files.nodes < files.ancestors:
        out.print(f"lineage tree: {files.nodes} of {files.ancestors} candidates drawn (--max-nodes)")
    out.print(str(files.html))
