"""`evolve score`: evaluate one program (the task's seed, or another folder's files) once."""

from __future__ import annotations

from pathlib import Path

import typer

from evolve.cli import app
from evolve.cli.render import print_fields, print_json, progress
from scoring.api import score as run_score
from scoring.errors import InputError
from scoring.result import ScoreResult
from scoring.task import load_task

SHOWN = ("status", "reason", "best_vloss", "test_loss", "elapsed_s", "steps", "startup_s", "wall_s",
         "peak_mem_mb", "device", "stdout_path", "stderr_path")


def read_candidate_files(folder: Path, editable: tuple[str, ...]) -> dict[str, str]:
    """The editable files present in `folder` (absent ones stay the seed's)."""
    if not folder.is_dir():
        raise InputError(f"--files-from: folder not found: {folder}")
    files = {}
    for name in editable:
        path = folder / name
        if path.is_file():
            try:
                files[name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{path} is not UTF-8 text") from None
    if not files:
        raise InputError(f"--files-from: {folder} holds none of the task's files ({', '.join(editable)})")
    return files


@app.command("score")
def score(
    task_dir: Path = typer.Argument(..., help="Task folder (task.toml, model.py, train_mps.py)."),
    seed: int = typer.Option(1337, "--seed", help="Training seed."),
    smoke: bool = typer.Option(False, "--smoke", help="Tiny training budget: seconds, for checks and CI."),
    files_from: Path = typer.Option(None, "--files-from", help="Score this folder's files against the task."),
    timeout: float = typer.Option(None, "--timeout", help="Wall-clock limit in seconds (default: the task's)."),
    keep: Path = typer.Option(None, "--keep", help="Keep the run folder and its logs (stdout.log, stderr.log) "
                                                   "here; without it they are removed when the score is done."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON. Without --keep, stdout_path "
                                                       "and stderr_path are null (the run folder is removed; "
                                                       "log_tail holds the end of the logs)."),
) -> None:
    """Score one candidate in the sandbox and print its status, losses and timing. Exit 1 unless ok.

    The run folder is temporary and removed at the end unless --keep DIR names where to keep it: only then
    do stdout_path and stderr_path name files (null in --json otherwise)."""
    task = load_task(task_dir)
    files = read_candidate_files(files_from, task.editable) if files_from else {}
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    limit = task.timeout(smoke) if timeout is None else timeout
    if not as_json:
        progress(_starting(files_from, task.name, seed, smoke, limit))
    result = run_score(files, task, seed=seed, smoke=smoke, timeout=timeout, workdir=keep)
    _print_result(result, task.name, keep, as_json)
    raise typer.Exit(0 if result.ok else 1)


def _starting(files_from: Path | None, task_name: str, seed: int, smoke: bool, limit: float) -> str:
    what = f"{files_from}" if files_from else f"the seed of {task_name}"
    return f"scoring {what} (seed {seed}{', smoke budget' if smoke else ''}, timeout {limit:g} s)..."


def _print_result(result: ScoreResult, task_name: str, keep: Path | None, as_json: bool) -> None:
    d = result.to_dict()
    if keep is None:  # the temporary run folder is gone: no path may point into it
        d["stdout_path"] = d["stderr_path"] = None
    if as_json:
        print_json(d)
        return
    if keep is None:
        d["stdout_path"] = d["stderr_path"] = "(removed; --keep DIR keeps them)"
    print_fields({k: d[k] for k in SHOWN}, title=f"{task_name}: {result.status}")
