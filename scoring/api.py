"""The one door into scoring: `score(files, task, seed)` -> ScoreResult.

Steps (DESIGN.md, data flow 3-5): syntax and the constraint guard first (nothing runs on a violation);
then the files go into a fresh folder and the trusted runner executes them in a sandboxed child; the
verdict comes back through a result file that must carry this evaluation's nonce.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from scoring import confine, data, guard, sandbox, syntax
from scoring.result import CONSTRAINT_VIOLATION, CRASHED, INTERRUPTED, REJECTED, TIMEOUT, ScoreResult
from scoring.task import Task

LOG_CAP_BYTES = 1_000_000  # per stream; the rest is counted and dropped
FILE_LIMIT_MB = 256  # largest file a candidate may write
TAIL_CHARS = 2000


def default_mem_limit_mb() -> int | None:
    """Half the machine's memory as an address-space cap on Linux CPU hosts; none where it cannot apply.

    CUDA reserves far more virtual address space than it uses, and macOS does not enforce RLIMIT_AS.
    """
    if not sys.platform.startswith("linux") or os.path.exists("/dev/nvidia0"):
        return None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
    return max(2048, total // 2 // 2**20)


def syntax_errors(files: Mapping[str, str]) -> list[str]:
    problems = []
    for name, text in files.items():
        try:
            syntax.parse(text, filename=name)
        except SyntaxError as e:
            problems.append(f"syntax error in {name} line {e.lineno}: {e.msg}")
    return problems


def _reason_without_result(outcome: sandbox.ChildOutcome, timeout: float, stderr_tail: str) -> tuple[str, str]:
    if outcome.timed_out:
        return TIMEOUT, f"killed after the {timeout:g} s timeout (whole process group)"
    if outcome.interrupted:
        return INTERRUPTED, "stopped by the controller before it finished"
    last = next((line for line in reversed(stderr_tail.splitlines()) if line.strip()), "")
    if outcome.signal_name:
        why = f"killed by {outcome.signal_name}"
        if outcome.signal_name == "SIGXFSZ":
            why += f" (wrote a file over {FILE_LIMIT_MB} MB)"
    else:
        why = f"exited with code {outcome.returncode} before returning a result"
    return CRASHED, f"{why}: {last[:300]}" if last else why


def score(files: Mapping[str, str], task: Task, *, seed: int = 1337, smoke: bool = False,
          workdir: Path | None = None, timeout: float | None = None, env: Mapping[str, str] | None = None,
          mem_limit_mb: int | None | str = "default", stop: threading.Event | None = None) -> ScoreResult:
    """Evaluate one candidate (file name -> text; files not given are the seed's) on one seed.

    `workdir` keeps the run folder and logs (a temporary folder is used and removed otherwise); `env`
    adds the evaluation slot's device variables; `stop` interrupts a running evaluation.
    """
    merged = {**task.seed_files, **files}
    problems = syntax_errors(merged)
    if problems:
        return ScoreResult(REJECTED, "; ".join(problems), seed)
    problems = guard.check(task, merged)
    if problems:
        return ScoreResult(CONSTRAINT_VIOLATION, "; ".join(problems), seed)
    ds = data.dataset(task.dataset)
    timeout = task.timeout(smoke) if timeout is None else timeout
    if mem_limit_mb == "default":
        mem_limit_mb = default_mem_limit_mb()

    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="evolve-score-")) if own_dir else Path(workdir).resolve()
    try:
        return _run(merged, task, seed, smoke, root, ds, timeout, dict(env or {}), mem_limit_mb, stop)
    finally:
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)


def _run(files: dict[str, str], task: Task, seed: int, smoke: bool, root: Path, ds: data.Dataset,
         timeout: float, slot_env: dict[str, str], mem_limit_mb: int | None,
         stop: threading.Event | None) -> ScoreResult:
    run_dir, private = root / "run", root / ".private"
    for d in (run_dir, run_dir / "tmp", private):
        d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (run_dir / name).write_text(text, encoding="utf-8")
    nonce, token = secrets.token_hex(16), secrets.token_hex(8)
    prefix = confine.namespace_prefix()
    seed_text = task.seed_files[task.frozen.file]
    first, last = guard.frozen_region(seed_text, task)
    job = {
        "run_dir": str(run_dir),
        "entry_module": task.entry_module,
        "entry_function": task.entry_function,
        "eval_function": task.frozen.eval_function,
        "batch_function": task.frozen.batch_function,
        "budget_name": task.frozen.budget_name,
        "max_evals_name": task.frozen.max_evals_name,
        "frozen_names": list(task.frozen.names),
        "frozen_source": "\n".join(seed_text.splitlines()[first - 1 : last]),
        "test_path": str(ds.test_path) if ds.test_path.is_file() else None,
        "result_path": str(private / f"result-{nonce[:8]}.json"),
        "nonce": nonce,
        "mem_limit_mb": mem_limit_mb,
        "file_limit_mb": FILE_LIMIT_MB,
        "spawned_at": time.time(),
        "namespaces": bool(prefix),
    }
    job_path = private / "job.json"
    job_path.write_text(json.dumps(job))
    env = sandbox.scrubbed_env(
        {**slot_env, "EVOLVE_SEED": str(seed), "EVOLVE_SMOKE": "1" if smoke else "0",
         "EVOLVE_DATA_DIR": str(ds.public_dir)},
        home=run_dir, token=token,
    )
    stdout_path, stderr_path = root / "stdout.log", root / "stderr.log"
    argv = [*prefix, sys.executable, "-I", "-m", "scoring.runner", str(job_path)]
    outcome = sandbox.run(argv, cwd=run_dir, env=env,
                          timeout=timeout, stdout_path=stdout_path, stderr_path=stderr_path,
                          log_cap_bytes=LOG_CAP_BYTES, token=token, stop=stop)
    job_path.unlink(missing_ok=True)
    stdout_tail = sandbox.tail(stdout_path, TAIL_CHARS // 2)
    stderr_tail = sandbox.tail(stderr_path, TAIL_CHARS // 2)
    log_tail = (stdout_tail + ("\n--- stderr ---\n" + stderr_tail if stderr_tail.strip() else "")).strip()
    common = dict(seed=seed, wall_s=round(outcome.wall_s, 3), stdout_path=str(stdout_path),
                  stderr_path=str(stderr_path), log_tail=log_tail[-TAIL_CHARS:])
    verdict = _read_result(Path(job["result_path"]), nonce)
    notes = _containment_notes(bool(prefix), verdict)
    if outcome.stragglers_killed:
        notes.append(f"killed {outcome.stragglers_killed} process(es) that outlived the evaluation")
    if verdict is None or outcome.timed_out or outcome.interrupted:
        status, reason = _reason_without_result(outcome, timeout, stderr_tail)
        return ScoreResult(status, reason, notes=tuple(notes), **common)
    history = tuple(float("nan") if v is None else v for v in verdict.get("vloss_history", []))
    return ScoreResult(
        status=verdict["status"],
        reason=verdict.get("reason", ""),
        best_vloss=verdict.get("best_vloss"),
        returned_vloss=verdict.get("returned_vloss"),
        test_loss=verdict.get("test_loss"),
        vloss_history=history,
        steps=verdict.get("steps"),
        elapsed_s=_round(verdict.get("elapsed_s")),
        startup_s=_round(verdict.get("startup_s")),
        peak_mem_mb=verdict.get("peak_mem_mb"),
        device=verdict.get("device"),
        notes=tuple(notes),
        **common,
    )


def _containment_notes(namespaces: bool, verdict: dict | None) -> list[str]:
    """What confinement this evaluation really had: only facts the parent set up or the runner reported."""
    if not namespaces:
        return ["network not isolated", "processes not confined to a PID namespace"]
    notes = ["network isolated", "processes confined to a PID namespace"]
    if verdict is not None and "fs_readonly" in verdict:
        notes.append("file system read-only outside the run folder" if verdict["fs_readonly"]
                     else "file system not read-only: " + "; ".join(verdict.get("confine_failures", []))[:300])
    return notes


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _read_result(path: Path, nonce: str) -> dict | None:
    """The runner's verdict, only if it is whole and carries this evaluation's nonce."""
    try:
        verdict = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(verdict, dict) or verdict.get("nonce") != nonce or "status" not in verdict:
        return None
    return verdict
