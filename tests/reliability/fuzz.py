"""Crash-resume fuzzing: a real `evolve` campaign killed with SIGKILL at random moments, resumed each time.

Three kinds of moment, in turn: while it starts (opening and migrating the database, taking the lease,
seeding), right as its database changes (the WAL file grows: a write is in progress or just committed),
and while a sandboxed evaluation runs. Before every kill the rows are read; at the end every one of them
must still be there, unchanged where it was final. Used by test_crash_resume.py and bench/reliability.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import EVOLVE

TASK_DIR = Path(__file__).resolve().parents[2] / "seeds" / "tasks" / "nanogpt_shakespeare"

MODES = ("startup", "write", "evaluation")


@dataclass
class FuzzReport:
    budget: int
    kills: list[str] = field(default_factory=list)  # the mode of each kill, in order
    resumes: int = 0  # runs that continued an existing campaign (a launch killed before it existed is relaunched)
    relaunches: int = 0
    evaluations: int = 0
    interrupted_rows: int = 0
    wall_s: float = 0.0
    final: dict = field(default_factory=dict)  # the last run's JSON outcome
    problems: list[str] = field(default_factory=list)  # broken promises; empty when all held


def _connect(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{folder / 'lineage.db'}?mode=ro", uri=True, timeout=10)


def rows(folder: Path) -> dict[str, set[tuple]]:
    """The rows that must never be lost, keyed by table; final evaluations with their figures."""
    if not (folder / "lineage.db").exists():
        return {}
    for _ in range(20):
        try:
            with _connect(folder) as con:
                return {
                    "final_evaluations": set(con.execute(
                        "select id, candidate_id, seed, status, best_vloss, finished_at from evaluations "
                        "where status != 'interrupted'")),
                    "evaluations": {(i,) for (i,) in con.execute("select id from evaluations")},
                    "candidates": set(con.execute("select id, parent_id, code_hash, operator from candidates")),
                    "events": set(con.execute("select id, kind from events")),
                    "llm_calls": set(con.execute("select id, prompt_hash from llm_calls")),
                }
        except sqlite3.Error:  # a table not created yet, or a lock held by a dying writer
            time.sleep(0.1)
    return {}


def campaign_processes(folder: Path) -> list[int]:
    """Live processes whose command line names the campaign folder: sandboxed runners of this campaign."""
    marker = str(folder.resolve()).encode()
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker in cmd and state != "Z":
                found.append(int(pid))
    return found


def _wal_state(folder: Path) -> tuple[int, int]:
    try:
        st = (folder / "lineage.db-wal").stat()
        return st.st_size, st.st_mtime_ns
    except OSError:
        return (0, 0)


def _has_campaign(folder: Path) -> bool:
    """Whether a killed launch got as far as recording its campaign (else it is launched again)."""
    try:
        with _connect(folder) as con:
            return con.execute("select count(*) from campaigns").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def _evals_done(folder: Path) -> int:
    return len(rows(folder).get("final_evaluations", ()))


def _wait_and_kill(proc: subprocess.Popen, folder: Path, mode: str, rng: random.Random) -> bool:
    """Kill `proc` at a moment of the given kind; False if it ended first."""
    deadline = time.monotonic() + 120
    if mode == "startup":
        time.sleep(rng.uniform(0.2, 2.5))
    elif mode == "write":
        time.sleep(rng.uniform(0.0, 3.0))
        before = _wal_state(folder)
        while _wal_state(folder) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
    else:
        while not campaign_processes(folder) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 3.0))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def run_fuzz(root: Path, *, kills: int = 12, budget: int = 10, seed: int = 2024, name: str = "fuzz") -> FuzzReport:
    """Launch, kill `kills` times (cycling through MODES), resume until done; check every promise."""
    rng = random.Random(seed)
    folder = root / "populations" / name
    report = FuzzReport(budget=budget)
    seen: dict[str, set[tuple]] = {}
    launch = [EVOLVE, "launch", "--task", str(TASK_DIR), "--name", name, "--smoke", "--max-evals", str(budget),
              "--islands", "2", "--confirm-seeds", "1", "--seed", str(seed), "--json"]
    t0 = time.monotonic()
    while True:
        resuming = _has_campaign(folder)
        args = [EVOLVE, "resume", name, "--json"] if resuming else launch
        report.relaunches += not resuming and bool(report.kills)
        proc = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if len(report.kills) < kills:
            mode = MODES[len(report.kills) % len(MODES)]
            if mode != "startup" and _evals_done(folder) >= budget - 1:
                mode = "startup"  # keep the last evaluation for after the last kill
            if _wait_and_kill(proc, folder, mode, rng):
                report.kills.append(mode)
                report.resumes += resuming
                time.sleep(1.0)  # orphaned runners read end-of-file on their lifeline and end
                left = campaign_processes(folder)
                if left:
                    report.problems.append(f"after kill {len(report.kills)} ({mode}): runners left {left}")
                for table, found in rows(folder).items():
                    seen.setdefault(table, set()).update(found)
                continue
        out, err = proc.communicate(timeout=900)
        report.resumes += resuming
        if proc.returncode != 0:
            report.problems.append(f"the last run failed ({proc.returncode}): {err.strip()[-500:]}")
            break
        report.final = json.loads(out)
        break
    report.wall_s = time.monotonic() - t0
    _check(folder, report, seen)
    return report


def _check(folder: Path, report: FuzzReport, seen: dict[str, set[tuple]]) -> None:
    p = report.problems
    final = rows(folder)
    for table, before in seen.items():
        lost = before - final.get(table, set())
        if lost:
            p.append(f"{len(lost)} {table} row(s) seen before a kill are gone or changed: {sorted(lost)[:3]}")
    with _connect(folder) as con:
        pairs = con.execute("select candidate_id, seed from evaluations where status != 'interrupted'").fetchall()
        report.evaluations = len(pairs)
        report.interrupted_rows = con.execute(
            "select count(*) from evaluations where status = 'interrupted'").fetchone()[0]
        if len(set(pairs)) != len(pairs):
            p.append("a (candidate, seed) was evaluated twice")
        if len(pairs) != report.budget:
            p.append(f"{len(pairs)} evaluations, budget {report.budget}")
        check = con.execute("pragma integrity_check").fetchone()[0]
        if check != "ok":
            p.append(f"integrity_check: {check}")
        if con.execute("pragma foreign_key_check").fetchall():
            p.append("foreign_key_check found orphans")
        if con.execute("select count(*) from candidates where status = 'running'").fetchone()[0]:
            p.append("candidates left in status running")
        resumes = con.execute("select count(*) from events where kind = 'resume'").fetchone()[0]
        if not 0 < resumes <= report.resumes:  # a resume killed before its first write leaves no event
            p.append(f"{resumes} resume events for {report.resumes} resumes")
    if report.final.get("evaluations") != report.budget:
        p.append(f"final outcome says {report.final.get('evaluations')} evaluations")
    left = campaign_processes(folder)
    if left:
        p.append(f"processes of the campaign still running at the end: {left}")
