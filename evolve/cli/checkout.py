"""`evolve checkout`: take a candidate's program out of the lineage as plain files."""

from __future__ import annotations

from pathlib import Path

import typer

from evolve.checkout import checkout as do_checkout
from evolve.checkout import resolve
from evolve.cli import app
from evolve.cli.query import DB_HELP, JSON_HELP, _campaign
from evolve.cli.render import out, print_json


@app.command()
def checkout(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    candidate: str = typer.Argument(..., help="Candidate id, or 'best'."),
    dest: Path = typer.Argument(..., help="Folder to write the candidate's files and CANDIDATE.md into."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that differ."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write a candidate's files into DEST with a CANDIDATE.md (its scores, lineage and how to run it)."""
    with _campaign(name, db) as (d, cid):
        chosen = resolve(d, cid, candidate)
        written = do_checkout(d, cid, chosen, dest, force=force)
    if as_json:
        print_json({"candidate": chosen, "folder": str(dest), "files": written})
    else:
        out.print(f"candidate {chosen} -> {dest}: {', '.join(written)}")
