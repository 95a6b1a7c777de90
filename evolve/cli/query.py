"""Query commands on a campaign's lineage database: status, top, lineage, show, personas, export, sql.

Thin: each command resolves NAME (or --db), asks `evolve.lineage`, and renders a table or its JSON twin.
None of them creates or writes a database; `sql` opens it read-only.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from evolve import lineage
from evolve.checkout import resolve
from evolve.cli import app
from evolve.cli.render import out, print_fields, print_json, print_table
from evolve.files import write_atomic
from evolve.launch import effective_config
from evolve.lineage.db import corruption_as_input_error
from evolve.lineage.queries import scored
from evolve.pareto import front, loss_and_cost
from scoring.errors import InputError

DB_HELP = (
    "Any SQLAlchemy URL (sqlite:///..., postgresql+psycopg://...); NAME is then the campaign's name in it."
)
JSON_HELP = "Print JSON instead of a table."
ROW_COLUMNS = [
    "id",
    "fitness",
    "island",
    "persona",
    "operator",
    "generation",
    "parent_id",
    "parent2_id",
    "status",
]
# What a narrow terminal leaves out of a candidate table first.
ROW_DROP = ["parent2_id", "generation", "island", "parent_id", "operator"]


@contextlib.contextmanager
def _campaign(
    name: str, db_url: str | None, readonly: bool = False
) -> Iterator[tuple[lineage.Database, int]]:
    url, campaign_name = lineage.campaign_location(name, db_url)
    db = lineage.open_db(url, create=False, readonly=readonly)
    try:
        with corruption_as_input_error(url if db_url is None else "the database"):
            # A renamed campaign folder still opens its one campaign; an explicit --db never guesses.
            yield db, lineage.campaign_id(db, campaign_name, sole_fallback=db_url is None)
    finally:
        db.close()


def _rows(rows: list[Any]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


@app.command()
def status(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Counts by status, evaluations, best candidate, LLM cost, events and islands."""
    with _campaign(name, db) as (d, cid):
        summary = lineage.status_summary(d, cid).to_dict()
        islands = [i.to_dict() for i in lineage.island_stats(d, cid)]
        try:
            limit: int | None = effective_config(d, cid).budget.llm_call_limit()
        except InputError:  # settings this version cannot read (hand-made, or older): the counts still show
            limit = None
    summary["max_llm_calls"] = limit
    if as_json:
        print_json({**summary, "island_stats": islands})
        return
    print_fields(_status_fields(summary), title=f"campaign {summary['campaign']}")
    print_table(
        islands,
        [
            "island",
            "members",
            "seeds",
            "born",
            "migrants_in",
            "candidates",
            "ok",
            "best_candidate",
            "best_fitness",
        ],
        title="islands",
    )


def _status_fields(summary: dict[str, Any]) -> dict[str, Any]:
    """The status summary as one record: each count table on one line, the best candidate in a phrase."""
    flat = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    for key in ("by_status", "evaluations_by_status", "events"):
        flat[key] = ", ".join(f"{k} {n}" for k, n in summary[key].items()) or None
    best = summary["best"]
    if best is not None:
        flat["best"] = f"#{best['id']} {best['fitness']:.4f} ({best['persona'] or best['operator']})"
    return flat


def _pareto_front(rows: list[lineage.Candidate]) -> list[lineage.Candidate]:
    """The rows no other row beats on both validation loss and training FLOPs, in their order."""
    keep = front([loss_and_cost(r.fitness, r.train_flops) for r in rows])
    return [rows[i] for i in keep]


@app.command()
def top(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    k: int = typer.Option(10, "-n", "--top", min=1, help="How many candidates."),
    pareto: bool = typer.Option(False, "--pareto", help="The Pareto front over validation loss and training "
                                                        "FLOPs instead (every member; -n is ignored)."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The best ok candidates, lowest fitness (validation loss) first, with what their training cost."""
    with _campaign(name, db) as (d, cid):
        rows = _rows(_pareto_front(scored(d, cid)) if pareto else lineage.top(d, cid, k))
        cost = lineage.costs(d, [r["id"] for r in rows])
    none = {"train_flops": None, "cpu_s": None, "max_rss_mb": None}
    rows = [{**r, **cost.get(r["id"], none)} for r in rows]
    if as_json:
        print_json(rows)
    else:
        title = f"Pareto front ({len(rows)}): validation loss against training FLOPs" if pareto else f"top {k}"
        # `summary`: what the candidate changed, as its reply stated it (empty for a seed).
        print_table(rows, [*ROW_COLUMNS[:-1], "train_flops", "cpu_s", "summary"], title=title,
                    drop=["cpu_s", *ROW_DROP, "train_flops"])


@app.command("lineage")
def lineage_cmd(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    candidate_spec: str = typer.Argument(..., metavar="CANDIDATE", help="Candidate id, or 'best'."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Ancestors (through both parents) and descendants of a candidate, nearest first."""
    with _campaign(name, db) as (d, cid):
        candidate = resolve(d, cid, candidate_spec)
        up = _rows(lineage.ancestry(d, cid, candidate))
        down = _rows(lineage.descendants(d, cid, candidate))
        earlier = [{**e, "ancestors": _rows(e.get("ancestors", []))}
                   for e in lineage.earlier_ancestry(d, cid, candidate)]
    if as_json:
        print_json({"candidate": candidate, "ancestors": up, "descendants": down, "earlier_campaigns": earlier})
        return
    print_table(up, ["depth", *ROW_COLUMNS], title=f"ancestry of {candidate}", drop=ROW_DROP)
    for e in earlier:
        title = f"before that, in campaign {e['campaign']} (from its candidate {e['candidate']})"
        if "error" in e:
            print_fields({"error": e["error"]}, title=title)
        else:
            print_table(e["ancestors"], ["depth", *ROW_COLUMNS], title=title, drop=ROW_DROP)
    print_table(down, ["depth", *ROW_COLUMNS], title=f"descendants of {candidate}", drop=ROW_DROP)


@app.command()
def show(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    candidate_spec: str = typer.Argument(..., metavar="CANDIDATE", help="Candidate id, or 'best'."),
    diff: bool = typer.Option(
        False, "--diff", help="Show a unified diff of each file against the first parent."
    ),
    files: bool = typer.Option(False, "--files", help="Print the candidate's files in full."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One candidate: its record, evaluations, islands, files (and with --diff, what it changed)."""
    with _campaign(name, db) as (d, cid):
        candidate = resolve(d, cid, candidate_spec)
        c = lineage.candidate(d, cid, candidate).to_dict()  # printed as JSON or as a record
        changes = lineage.diff(d, cid, candidate) if diff else None
    if as_json:
        print_json({**c, **({"diff": changes} if changes is not None else {})})
        return
    print_fields(_candidate_record(c), title=f"candidate {candidate}")
    if c["evaluations"]:
        print_table(
            c["evaluations"],
            [
                "seed",
                "status",
                "best_vloss",
                "test_loss",
                "steps",
                "elapsed_s",
                "cpu_s",
                "train_flops",
                "max_rss_mb",
                "device",
                "reason",
            ],
            title="evaluations",
            drop=["max_rss_mb", "device", "cpu_s", "steps", "elapsed_s", "test_loss"],
        )
    if files:
        _print_files(c["files"])
    if changes is not None:
        _print_diff(changes, candidate, c["operator"])


def _candidate_record(c: dict[str, Any]) -> dict[str, Any]:
    """The candidate's own fields, with its islands and files each on one line (their contents apart)."""
    record = {k: v for k, v in c.items() if k not in ("files", "evaluations", "memberships")}
    record["islands"] = ", ".join(f"{m['island']} ({m['via']})" for m in c["memberships"])
    record["files"] = ", ".join(f"{n} ({len(t.encode())} B)" for n, t in c["files"].items())
    return record


def _print_files(files: dict[str, str]) -> None:
    for file_name, text in files.items():
        out.rule(file_name)
        out.print(text, markup=False, highlight=False)


def _print_diff(changes: dict[str, Any], candidate: int, operator: str) -> None:
    if changes["parent_id"] is None:
        out.print(f"candidate {candidate} has no parent (operator {operator}): nothing to diff")
    for f in changes["files"]:
        if f["status"] == "unchanged":
            out.print(f"{f['name']}: unchanged")
        else:
            out.print(f["diff"], markup=False, highlight=False, end="")


@app.command()
def personas(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Credit per persona and per operator: validity, improvement on the first parent, LLM cost."""
    with _campaign(name, db) as (d, cid):
        stats = lineage.persona_stats(d, cid).to_dict()  # table rows, or JSON
    if as_json:
        print_json(stats)
        return
    cols = [
        "children",
        "share_valid",
        "share_improving",
        "best_improvement",
        "mean_improvement",
        "llm_calls",
        "cost_usd",
    ]
    print_table(stats["persona"], ["persona", *cols], title="personas")
    print_table(stats["operator"], ["operator", *cols], title="operators")


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _render_export(columns: list[str], rows: list[dict[str, Any]], fmt: str) -> str:
    rows = [{c: _cell(r[c]) for c in columns} for r in rows]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        # Lists and dicts (notes, payloads, config) become JSON text inside their cell.
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()})
    return buf.getvalue()


def _write_atomically(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    write_atomic(path, text)


@app.command()
def export(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    fmt: str = typer.Option(..., "--format", help="csv, json or jsonl."),
    table: str = typer.Option("candidates", "--table", help=f"One of: {', '.join(lineage.TABLES)}."),
    out_file: str = typer.Option(None, "--out", help="Write here (atomically) instead of to stdout."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """A whole table of the campaign (candidates by default) as csv, json or jsonl."""
    if fmt not in ("csv", "json", "jsonl"):
        raise InputError(f"unknown --format {fmt!r}: use csv, json or jsonl")
    if table not in lineage.TABLES:
        raise InputError(f"unknown --table {table!r}: use one of {', '.join(lineage.TABLES)}")
    with _campaign(name, db) as (d, cid):
        columns, rows = lineage.export_rows(d, cid, table)
    text = _render_export(columns, rows, fmt)
    if out_file is None:
        sys.stdout.write(text)
    else:
        _write_atomically(Path(out_file), text)


@app.command()
def sql(
    name: str = typer.Argument(..., help="Campaign folder under populations/, or a path to one."),
    statement: str = typer.Argument(..., help="One SELECT (or WITH / VALUES / EXPLAIN) statement."),
    db: str = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Run one read-only SQL statement on the lineage database (writes are refused)."""
    lineage.sql.check_readonly(statement)  # refuse before even opening the database
    with _campaign(name, db, readonly=True) as (d, _cid):
        result = lineage.run_readonly(d, statement)
    if as_json:
        print_json(
            {
                "columns": result.columns,
                "rows": [[_cell(v) for v in r] for r in result.rows],
                "truncated": result.truncated,
            }
        )
        return
    print_table([dict(zip(result.columns, r, strict=True)) for r in result.rows], result.columns, short={})
    if result.truncated:
        out.print(f"(first {len(result.rows)} rows shown)")
