"""The one door into scoring: `score(files, task, seed)` -> ScoreResult.

Steps (DESIGN.md, data flow 3-5): syntax and the constraint guard first (nothing runs on a violation);
then the files go into a fresh folder and run in a sandboxed child (scoring/runner.py), which holds no
data: its training batches and evaluations come over a socket from the trusted referee
(scoring/referee.py), a second child that runs no candidate code. The verdict is the referee's, read
from its stdout; nothing the candidate's process writes or prints can change it. The jobs handed to the
children and the verdict read back are the typed values of scoring/jobs.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from scoring import confine, data, guard, sandbox, strict, syntax
from scoring.jobs import Confinement, EvaluatorJob, RefereeJob, RunnerJob, Verdict
from scoring.prune import Rule
from scoring.referee import GONE, RELEASED
from scoring.result import CONSTRAINT_VIOLATION, CRASHED, INTERRUPTED, REJECTED, TIMEOUT, ScoreResult
from scoring.task import Task

LOG_CAP_BYTES = 1_000_000  # per stream; the rest is counted and dropped
FILE_LIMIT_MB = 256  # largest file a candidate may write
TAIL_CHARS = 2000
FINAL_EVAL_S = 120.0  # the final evaluation's processes may run this long past the training's timeout
REFEREE_GRACE_S = FINAL_EVAL_S + 30  # the referee ends after them; this bounds a bug in it, not the candidate
EVALUATORS = 2  # fresh processes of the final evaluation: probe partners are never answered by the same one
OUTLIVED_VERDICT_S = 5.0  # a candidate's process still running this long after the referee's verdict is killed


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
          mem_limit_mb: int | None | str = "default", stop: threading.Event | None = None,
          prune: Rule | None = None) -> ScoreResult:
    """Evaluate one candidate (file name -> text; files not given are the seed's) on one seed.

    `workdir` keeps the run folder and logs (a temporary folder is used and removed otherwise); `env`
    adds the evaluation slot's device variables; `stop` interrupts a running evaluation; `prune` is the
    reference curve the referee may stop the training against (scoring/prune.py).
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
        return _run(merged, task, seed, smoke, root, ds, timeout, dict(env or {}), mem_limit_mb, stop, prune)
    finally:
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)


def _run(files: dict[str, str], task: Task, seed: int, smoke: bool, root: Path, ds: data.Dataset,
         timeout: float, slot_env: dict[str, str], mem_limit_mb: int | None,
         stop: threading.Event | None, prune: Rule | None) -> ScoreResult:
    run_dir, private, decoy = _lay_out(root, files, ds)
    token = secrets.token_hex(8)
    prefix = confine.namespace_prefix()
    frozen_source = _frozen_source(task)
    spawned_at, started = time.time(), time.monotonic()
    job = RunnerJob(run_dir=str(run_dir), entry_module=task.entry_module, entry_function=task.entry_function,
                    eval_function=task.frozen.eval_function, batch_function=task.frozen.batch_function,
                    device_name=task.frozen.device_name, frozen_names=task.frozen.names,
                    frozen_source=frozen_source, mem_limit_mb=mem_limit_mb, file_limit_mb=FILE_LIMIT_MB,
                    namespaces=bool(prefix), writable=(str(run_dir),),
                    readable=(str(decoy), *confine.python_paths()),
                    secret_files=tuple(map(str, ds.secret_files())))
    job_path = private / "job.json"
    job_path.write_text(json.dumps(job.to_wire()))
    frozen_env = {"EVOLVE_SEED": str(seed), "EVOLVE_SMOKE": "1" if smoke else "0"}
    ours, theirs = socket.socketpair()
    pairs = [socket.socketpair() for _ in range(EVALUATORS)]
    referee = _start_referee(task, ds, frozen_source, frozen_env, private, ours, [a for a, _ in pairs],
                             spawned_at, prune)
    slot = {**slot_env, **frozen_env, "EVOLVE_DATA_DIR": str(decoy)}
    evaluators = [_Evaluator(k, b, job, slot, root, prefix, timeout + FINAL_EVAL_S, stop)
                  for k, (_, b) in enumerate(pairs)]  # warm before the training ends, idle until then
    halt = _Halt(referee, stop)
    env = sandbox.scrubbed_env({**slot, "EVOLVE_REFEREE_FD": str(theirs.fileno())}, home=run_dir, token=token)
    logs = _Logs(root / "stdout.log", root / "stderr.log")
    argv = [*prefix, sys.executable, "-I", "-u", "-m", "scoring.runner", str(job_path)]
    outcome = sandbox.run(argv, cwd=run_dir, env=env,
                          timeout=timeout, stdout_path=logs.stdout, stderr_path=logs.stderr,
                          log_cap_bytes=LOG_CAP_BYTES, token=token, stop=halt, extra_fds=(theirs.detach(),))
    job_path.unlink(missing_ok=True)
    referee.gone()  # the candidate's process and all it started have ended: the final evaluation may begin
    verdict, referee_problem = referee.verdict(REFEREE_GRACE_S)
    if any([e.join() for e in evaluators]):  # a list: every one of them is waited for
        verdict = _final_timed_out(verdict)
    return _result(verdict, referee_problem, outcome, halt, timeout, logs, **_figures(verdict, outcome, evaluators),
                   seed=seed, wall_s=round(time.monotonic() - started, 3), log_tail=logs.tail(),
                   notes=tuple(_notes(bool(prefix), verdict, halt, outcome)))


def _result(verdict: Verdict | None, referee_problem: str | None, outcome: sandbox.ChildOutcome, halt: _Halt,
            timeout: float, logs: _Logs, **common) -> ScoreResult:
    """The referee's verdict, where it stands: it finished, and the candidate's process was neither killed at
    its timeout nor stopped by the controller. Otherwise why there is none (a timeout, a crash, an interruption,
    a referee that failed)."""
    common.update(stdout_path=str(logs.stdout), stderr_path=str(logs.stderr))
    interrupted = outcome.interrupted and not halt.outlived
    if outcome.timed_out or interrupted or verdict is None or not verdict.finished:
        status, reason = _reason_without_result(outcome, timeout, sandbox.tail(logs.stderr, TAIL_CHARS // 2))
        if halt.outlived:  # the referee ended without a verdict, and the process after it was killed
            status = CRASHED
        if referee_problem and not (outcome.timed_out or interrupted):
            reason = referee_problem
        return ScoreResult(status, reason, **common)
    return ScoreResult(status=verdict.status, reason=verdict.reason, best_vloss=verdict.best_vloss,
                       returned_vloss=verdict.returned_vloss, test_loss=verdict.test_loss, **common)


def _final_timed_out(verdict: Verdict | None) -> Verdict | None:
    """A final evaluation's process was killed at its timeout: the crash the referee saw is that timeout."""
    if verdict is None or verdict.status != CRASHED:
        return verdict
    return replace(verdict, status=TIMEOUT, reason=f"the final evaluation was killed after {FINAL_EVAL_S:g} s")


def _lay_out(root: Path, files: dict[str, str], ds: data.Dataset) -> tuple[Path, Path, Path]:
    """The run folder with the candidate's files, the controller's private folder, the decoy data folder."""
    run_dir, private, decoy = root / "run", root / ".private", root / "data"
    for d in (run_dir, run_dir / "tmp", private):
        d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (run_dir / name).write_text(text, encoding="utf-8")
    ds.write_decoy(decoy)
    return run_dir, private, decoy


def _frozen_source(task: Task) -> str:
    """The seed's frozen block, the code the referee runs as the protocol."""
    seed_text = task.seed_files[task.frozen.file]
    first, last = guard.frozen_region(seed_text, task)
    return "\n".join(seed_text.splitlines()[first - 1 : last])


class _Logs:
    """The candidate's process's two log files, and the tail of both that a result keeps."""

    def __init__(self, stdout: Path, stderr: Path):
        self.stdout, self.stderr = stdout, stderr

    def tail(self) -> str:
        out, err = sandbox.tail(self.stdout, TAIL_CHARS // 2), sandbox.tail(self.stderr, TAIL_CHARS // 2)
        return (out + ("\n--- stderr ---\n" + err if err.strip() else "")).strip()[-TAIL_CHARS:]


def _figures(verdict: Verdict | None, outcome: sandbox.ChildOutcome, evaluators: list[_Evaluator]) -> dict:
    """What the evaluation measured and counted, whatever its status: the referee's figures (none when it gave
    no verdict) and the parent's accounting of the candidate's process."""
    steps = None if verdict is None else verdict.steps
    verdict = verdict or Verdict()
    return dict(vloss_history=tuple(float("nan") if v is None else v for v in verdict.vloss_history),
                vloss_steps=verdict.vloss_steps, steps=steps,
                elapsed_s=_round(verdict.elapsed_s), startup_s=_round(verdict.startup_s),
                peak_mem_mb=verdict.peak_mem_mb, device=verdict.device, trusted_s=_round(verdict.final_eval_s),
                cpu_s=outcome.cpu_s, max_rss_mb=outcome.max_rss_mb, step_flops=verdict.step_flops,
                train_flops=verdict.train_flops, scoring_rss_mb=_scoring_rss(verdict, evaluators))


def _notes(namespaces: bool, verdict: Verdict | None, halt: _Halt, outcome: sandbox.ChildOutcome) -> list[str]:
    """Containment facts worth recording beside the result."""
    notes = _containment_notes(namespaces, verdict.confinement if verdict else None)
    if halt.outlived:
        notes.append(f"the candidate's process was still running {OUTLIVED_VERDICT_S:g} s after the referee's "
                     "verdict and was killed")
    if outcome.stragglers_killed:
        notes.append(f"killed {outcome.stragglers_killed} process(es) that outlived the evaluation")
    return notes


class _Halt:
    """When the sandbox stops the candidate's process early: `stop` is set (the controller interrupts), or
    the referee is done with it (train() returned, or a verdict such as pruned) and the process has not
    ended itself within OUTLIVED_VERDICT_S. Polled by sandbox.run as it waits."""

    def __init__(self, referee: _Referee, stop: threading.Event | None):
        self.referee, self.stop = referee, stop
        self.verdict_at: float | None = None
        self.outlived = False

    def is_set(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return True
        if self.verdict_at is None:
            if not self.referee.released.is_set():
                return False
            self.verdict_at = time.monotonic()
        self.outlived = time.monotonic() - self.verdict_at > OUTLIVED_VERDICT_S
        return self.outlived


def _start_referee(task: Task, ds: data.Dataset, frozen_source: str, frozen_env: dict[str, str], private: Path,
                   sock: socket.socket, evaluator_socks: list[socket.socket], spawned_at: float,
                   prune: Rule | None) -> _Referee:
    """The trusted referee (scoring/referee.py), a child of this process that runs no candidate code."""
    fz = task.frozen
    job = RefereeJob(
        fd=sock.fileno(), evaluator_fds=tuple(s.fileno() for s in evaluator_socks), frozen_source=frozen_source,
        spawned_at=spawned_at, eval_function=fz.eval_function, batch_function=fz.batch_function,
        budget_name=fz.budget_name, max_evals_name=fz.max_evals_name, context_name=fz.context_name,
        batch_size_name=fz.batch_size_name, vocab_name=fz.vocab_name, eval_iters_name=fz.eval_iters_name,
        val_path=str(ds.val_path), fitness_start=ds.monitor_cut, test_path=str(ds.test_path), dtype=ds.dtype,
        max_train_flops=task.objective.max_train_flops, max_train_seconds=task.objective.max_train_seconds,
        prune=prune)
    env = sandbox.scrubbed_env({**frozen_env, "EVOLVE_DATA_DIR": str(ds.monitor_dir), "CUDA_VISIBLE_DEVICES": "",
                                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, home=private, token="referee")
    fds = (sock.fileno(), *(s.fileno() for s in evaluator_socks))
    with open(private / "referee.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-I", "-m", "scoring.referee"], cwd=private, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                pass_fds=fds, start_new_session=True)
    for s in (sock, *evaluator_socks):
        s.close()
    return _Referee(proc, json.dumps(job.to_wire()), private / "referee.log")


class _Referee:
    """The referee process as the controller talks to it: its job on stdin, then one line (`gone`) once the
    candidate's process has ended; on stdout a line when it is done with that process (`released`), then
    its verdict."""

    def __init__(self, proc: subprocess.Popen, job: str, log: Path):
        self.proc, self.log = proc, log
        self.released = threading.Event()
        self._out: list[bytes] = []
        proc.stdin.write(job.encode() + b"\n")
        proc.stdin.flush()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.decode(errors="replace") == RELEASED:
                self.released.set()
            else:
                self._out.append(line)
        self.released.set()  # it ended: it is done with the candidate's process too

    def gone(self) -> None:
        try:
            self.proc.stdin.write(GONE.encode() + b"\n")
            self.proc.stdin.close()
        except OSError:
            pass  # it ended already

    def verdict(self, grace: float) -> tuple[Verdict | None, str | None]:
        """The verdict once it has ended, or why there is none."""
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, f"the trusted referee did not finish within {grace:g} s of the candidate"
        self._reader.join(timeout=5)
        try:
            verdict = json.loads(b"".join(self._out))
        except ValueError:
            last = (sandbox.tail(self.log, 600).strip().splitlines() or ["no output"])[-1]
            return None, f"the trusted referee failed (exit {self.proc.returncode}): {last[:300]}"
        if not isinstance(verdict, dict):
            return None, "the trusted referee returned no verdict"
        try:
            return Verdict.from_wire(verdict), None
        except strict.Mismatch as e:  # a bug in the referee, not the candidate's doing: no verdict, said so
            return None, f"the trusted referee returned a malformed verdict: {str(e)[:300]}"


class _Evaluator:
    """One fresh process for the final evaluation (scoring/evaluator.py), started now so that it is warm
    when the training ends: confined with nothing writable but a private scratch in memory, it waits for the
    referee's `go`."""

    def __init__(self, k: int, sock: socket.socket, runner_job: RunnerJob, slot_env: dict[str, str], root: Path,
                 prefix: tuple[str, ...], timeout: float, stop: threading.Event | None):
        run_dir = runner_job.run_dir
        job = EvaluatorJob(run_dir=run_dir, readable=(run_dir, *runner_job.readable),
                           namespaces=runner_job.namespaces, mem_limit_mb=runner_job.mem_limit_mb,
                           file_limit_mb=FILE_LIMIT_MB, count_flops=k == 0)
        job_path = root / ".private" / f"evaluator-{k}.json"
        job_path.write_text(json.dumps(job.to_wire()))
        token = secrets.token_hex(8)
        env = sandbox.scrubbed_env({**slot_env, "EVOLVE_REFEREE_FD": str(sock.fileno())}, home=Path(run_dir),
                                   token=token)
        argv = [*prefix, sys.executable, "-I", "-u", "-m", "scoring.evaluator", str(job_path)]
        kwargs = dict(cwd=Path(run_dir), env=env, timeout=timeout, stdout_path=root / f"final-{k}.stdout.log",
                      stderr_path=root / f"final-{k}.stderr.log", log_cap_bytes=LOG_CAP_BYTES, token=token,
                      stop=stop, extra_fds=(sock.detach(),))
        self.outcome: sandbox.ChildOutcome | None = None
        self._thread = threading.Thread(target=self._run, args=(argv, kwargs), daemon=True)
        self._thread.start()

    def _run(self, argv: list[str], kwargs: dict) -> None:
        self.outcome = sandbox.run(argv, **kwargs)

    def join(self) -> bool:
        """Wait until it has ended; whether it was killed at its timeout."""
        self._thread.join()
        return bool(self.outcome and self.outcome.timed_out)


def _scoring_rss(verdict: Verdict, evaluators: list[_Evaluator]) -> float | None:
    """The largest resident set among the referee (its own count) and the final evaluation's processes."""
    figures = [verdict.referee_rss_mb, *(e.outcome.max_rss_mb for e in evaluators if e.outcome)]
    figures = [f for f in figures if isinstance(f, (int, float))]
    return round(max(figures), 1) if figures else None


def _containment_notes(namespaces: bool, facts: Confinement | None) -> list[str]:
    """What confinement this evaluation really had, as set up here or reported before candidate code ran
    (`facts` is None when the candidate's process reported none)."""
    if not namespaces:
        notes = ["network not isolated", "processes not confined to a PID namespace"]
    else:
        notes = ["network isolated", "processes confined to a PID namespace"]
        if facts is not None:
            notes.append("file system read-only outside the run folder" if facts.fs_readonly
                         else "file system not read-only: " + "; ".join(facts.confine_failures)[:300])
    if facts is not None:
        notes.append("dataset hidden from the candidate" if facts.data_hidden
                     else "dataset readable by the candidate (no mount namespace on this host)")
        notes.append("page-cache and key-store system calls denied" if facts.syscalls_denied
                     else "system calls not filtered (no seccomp filter on this host)")
    return notes


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
