"""Populations as files: a candidate's program written out, ready to run, and each island's best.

Files are written atomically one by one (a temporary file, then a rename), so a kill during a checkout
leaves every file either as it was or as the candidate has it, never half-written. The `best/` folder of
a campaign is a symlink swapped in one rename, so a reader sees the old set or the new set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from evolve import lineage
from evolve.files import write_atomic
from scoring import data
from scoring.errors import InputError
from scoring.result import OK


def resolve(db: lineage.Database, cid: int, spec: str) -> int:
    """A candidate id from the command line: a number, or `best` (the campaign's best ok candidate)."""
    if spec == "best":
        top = lineage.top(db, cid, 1)
        if not top:
            raise InputError("the campaign has no scored candidate yet, so there is no `best`")
        return top[0].id
    try:
        return int(spec)
    except ValueError:
        raise InputError(f"candidate must be a number or 'best', got {spec!r}") from None


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def candidate_markdown(db: lineage.Database, cid: int, candidate: int) -> str:
    """CANDIDATE.md: where the program came from and how it scored."""
    detail = lineage.candidate(db, cid, candidate)
    camp = lineage.campaign(db, cid)
    chain = list(reversed(lineage.ancestry(db, cid, candidate)))
    return "\n".join([*_summary_lines(detail, camp, candidate), "", *_evaluation_lines(detail),
                      *_lineage_lines(db, cid, candidate, chain), *_run_lines(camp)])


def _summary_lines(detail: lineage.CandidateDetail, camp: lineage.CampaignInfo, candidate: int) -> list[str]:
    info = detail.candidate
    reason = f" ({info.reason})" if info.reason else ""
    return [
        f"# Candidate {candidate} of campaign `{camp.name}`",
        "",
        f"- status: {info.status}{reason}",
        f"- fitness (mean best val loss over ok seeds): {_loss(info.fitness)}",
        f"- test loss (held-out split, mean): {_loss(_mean_test_loss(detail))}",
        f"- persona / operator / model: {info.persona or '-'} / {info.operator} / {info.model or '-'}",
        f"- task: {camp.task_name} ({camp.task_path})",
        f"- written by persona-evolve at commit {_commit()} on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
    ]


def _mean_test_loss(detail: lineage.CandidateDetail) -> float | None:
    """The held-out loss over the candidate's ok evaluations that measured one."""
    tests = [e.result.test_loss for e in detail.evaluations
             if e.result.status == OK and e.result.test_loss is not None]
    return sum(tests) / len(tests) if tests else None


def _or_dash(value: object) -> str:
    return "-" if value is None else f"{value}"


def _evaluation_lines(detail: lineage.CandidateDetail) -> list[str]:
    lines = [
        "## Evaluations",
        "",
        "| seed | status | best val loss | test loss | steps | train s |",
        "|---|---|---|---|---|---|",
    ]
    for e in (s.result for s in detail.evaluations):
        lines.append(f"| {e.seed} | {e.status} | {_loss(e.best_vloss)} | {_loss(e.test_loss)} | "
                     f"{_or_dash(e.steps)} | {_or_dash(e.elapsed_s)} |")
    return lines


def _lineage_lines(db: lineage.Database, cid: int, candidate: int, chain: list[lineage.Candidate]) -> list[str]:
    """The main line from the seed, and where its first ancestor was imported from, if it was."""
    lines = ["", "## Lineage (from the seed)", ""]
    for row in chain:
        extra = f" x #{row.parent2_id}" if row.parent2_id else ""
        lines.append(f"1. #{row.id} {row.operator}{extra}, persona {row.persona or '-'}: {_loss(row.fitness)}")
    origin = _origin(db, cid, chain[0].id if chain else candidate)
    if origin:
        lines.append(f"\nThe first ancestor came from candidate {origin['candidate']} of campaign "
                     f"`{origin['campaign']}` ({origin['db']}).")
    return lines


def _run_lines(camp: lineage.CampaignInfo) -> list[str]:
    module, function = _entry(camp)
    return ["", "## Run it", "", "```sh", f"EVOLVE_DATA_DIR={_data_dir(camp)} python -c \"import {module}; "
            f"print({module}.{function}())\"", "evolve score <task folder> --files-from .", "```", ""]


def _data_dir(camp: lineage.CampaignInfo) -> str:
    try:
        return str(data.dataset(_dataset_name(camp)).public_dir)
    except InputError:
        return "<the public/ folder of the dataset; run `evolve data prepare`>"


def _task(camp: lineage.CampaignInfo):
    from scoring.task import load_task

    try:
        return load_task(camp.task_path, check_seed=False)
    except InputError:
        return None  # the task folder moved: the built-in task's names are the best guess


def _dataset_name(camp: lineage.CampaignInfo) -> str:
    task = _task(camp)
    return task.dataset if task else data.BUILTIN


def _entry(camp: lineage.CampaignInfo) -> tuple[str, str]:
    task = _task(camp)
    return (task.entry_module, task.entry_function) if task else ("train_mps", "train")


def _origin(db: lineage.Database, cid: int, candidate: int) -> dict[str, Any] | None:
    _, rows = lineage.export_rows(db, cid, "candidates")
    row = next((r for r in rows if r["id"] == candidate), None)
    return row["origin"] if row else None


def _commit() -> str:
    head = Path(__file__).resolve().parent.parent / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (head.parent / ref[5:]).read_text().strip()[:12]
        return ref[:12]
    except OSError:
        from evolve import __version__

        return f"(release {__version__})"


def checkout(db: lineage.Database, cid: int, candidate: int, dest: Path, force: bool = False) -> list[str]:
    """Write the candidate's files and CANDIDATE.md into `dest`; refuse to overwrite a differing file."""
    files = lineage.candidate(db, cid, candidate).files
    if not files:
        raise InputError(f"candidate {candidate} has no files (it was rejected before it was stored)")
    files = {**files, "CANDIDATE.md": candidate_markdown(db, cid, candidate)}
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest} exists and is not a folder")
    differing = _differing(files, dest)
    if differing and not force:
        raise InputError(f"{dest} already holds a different {', '.join(differing)}; use --force to overwrite")
    dest.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_atomic(dest / name, text)
    return sorted(files)


def _differing(files: dict[str, str], dest: Path) -> list[str]:
    """The program files `dest` already holds with other contents (CANDIDATE.md is always rewritten)."""
    return [n for n, text in files.items() if n != "CANDIDATE.md" and (dest / n).is_file()
            and (dest / n).read_text(encoding="utf-8", errors="replace") != text]


def export_best(db: lineage.Database, cid: int, folder: Path, islands: int) -> Path | None:
    """`folder/best/island-<i>/`: each island's best program, swapped in atomically. None if none scored."""
    best = _island_bests(db, cid, islands)
    if not best:
        return None
    store = folder / ".best"
    store.mkdir(exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=store))
    for island, candidate in best.items():
        checkout(db, cid, candidate, target / f"island-{island}", force=True)
    return _swap_best_link(folder, store, target)


def _island_bests(db: lineage.Database, cid: int, islands: int) -> dict[int, int]:
    """Each island's lowest-fitness ok member (ties to the oldest); islands with none scored are left out."""
    best = {}
    for island in range(islands):
        scored = [m for m in lineage.members(db, cid, island) if m.status == OK and m.fitness is not None]
        if scored:
            best[island] = min(scored, key=lambda m: (m.fitness, m.candidate_id)).candidate_id
    return best


def _swap_best_link(folder: Path, store: Path, target: Path) -> Path:
    """Point `folder/best` at `target` in one rename, then remove the set it pointed at before."""
    link = folder / "best"
    tmp_link = folder / f".best-link-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(Path(".best") / target.name)
    old = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        raise InputError(f"{link} is a real folder; move it away so the best programs can be written there")
    os.replace(tmp_link, link)
    if old is not None and old != target.resolve() and old.parent == store.resolve():
        shutil.rmtree(old, ignore_errors=True)
    return link
