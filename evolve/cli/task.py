"""`evolve task check DIR`: what the harness understood of a task folder, and each problem with a hint."""

from __future__ import annotations

from pathlib import Path

import typer

from evolve.cli import app
from evolve.cli.render import err, out, print_json, progress
from scoring.task_check import Report, check_task

task_app = typer.Typer(help="Check a task folder before evolving it.", no_args_is_help=True)
app.add_typer(task_app, name="task")


@task_app.command("check")
def check(
    task_dir: Path = typer.Argument(..., help="Task folder (task.toml and its editable files)."),
    no_score: bool = typer.Option(False, "--no-score", help="Skip scoring the seed with the smoke budget."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Read the task's manifest and files, run its frozen block, score its seed once (smoke budget).
    Exit 2 when anything is wrong or missing."""
    rep = check_task(task_dir, score_seed=not no_score, progress=(lambda _: None) if as_json else progress)
    if as_json:
        print_json(rep.to_dict())
    else:
        _print_findings(task_dir, rep)
    raise typer.Exit(2 if rep.problems else 0)


def _print_findings(task_dir: Path, rep: Report) -> None:
    """What was found right on stdout, each problem (with its hint) on stderr, then the count."""
    out.print(f"task folder {task_dir}:")
    for f in rep.findings:
        if not f.problem:
            out.print(f"  ok       {f.text}")
    for f in rep.problems:
        err.print(f"  problem  {f.text}" + (f" (hint: {f.hint})" if f.hint else ""))
    n = len(rep.problems)
    (err if n else out).print(f"{n} problem{'s' if n != 1 else ''}" if n else "no problems found")
