"""Run one child process in a sandbox: own process group, hard timeout, scrubbed environment, capped logs.

A timeout is a SIGKILL of the whole process group, never an abandoned thread. After the child ends, for
any reason, the group is killed again and (on Linux) every process that still carries this run's token
in its environment is killed too, so nothing the candidate started outlives its evaluation. Where the host
allows it, the child also runs in fresh namespaces (`confine.namespace_prefix()`): no network, and a PID
namespace whose death takes every descendant with it, even one that detached and cleared its environment.

The child holds the read end of a pipe (the lifeline, fd number in EVOLVE_LIFELINE_FD) whose only write end
stays in this process: when the controller dies, even by SIGKILL, the child reads end-of-file and ends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Variables a child may inherit; everything else is dropped. Secrets never match, and are checked anyway.
PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                "CUDA_VISIBLE_DEVICES", "PYTORCH_MPS_HIGH_WATERMARK_RATIO", "PYTORCH_ENABLE_MPS_FALLBACK",
                "OMP_NUM_THREADS", "MKL_NUM_THREADS")
SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|DATABASE_URL|DB_URL|DSN)", re.I)
TOKEN_VAR = "EVOLVE_RUN_TOKEN"
LIFELINE_VAR = "EVOLVE_LIFELINE_FD"


def scrubbed_env(extra: dict[str, str], home: Path, token: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
    env.update(extra)
    env.update(HOME=str(home), TMPDIR=str(home / "tmp"), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    env[TOKEN_VAR] = token
    return {k: v for k, v in env.items() if not SECRET.search(k) or k == TOKEN_VAR}


class _Flag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class ChildOutcome:
    returncode: int | None
    timed_out: bool
    interrupted: bool
    wall_s: float
    stdout_bytes: int
    stderr_bytes: int
    stragglers_killed: int
    # From this process's accounting of the child (wait4), which the child cannot change: CPU seconds (user +
    # system) and the largest resident set, of the child and every descendant it waited for.
    cpu_s: float | None = None
    max_rss_mb: float | None = None

    @property
    def signal_name(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None


def _drain(stream, path: Path, cap: int, counter: list) -> None:
    """Copy a pipe to a file, keeping the first `cap` bytes; read the rest so the child never blocks."""
    with open(path, "wb") as f:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            counter[0] += len(chunk)
            room = cap - f.tell()
            if room > 0:
                f.write(chunk[:room])
        if counter[0] > cap:
            f.write(f"\n[log capped: {counter[0] - cap} more bytes dropped]\n".encode())


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_token_holders(token: str) -> int:
    """Kill processes that escaped the group (setsid, double fork) but still carry the run token."""
    if not sys.platform.startswith("linux"):
        return 0
    needle = f"{TOKEN_VAR}={token}".encode()
    killed = 0
    for _ in range(3):  # a forking process may spawn between scans
        found = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        os.kill(int(pid), signal.SIGKILL)
                        found += 1
            except (OSError, ProcessLookupError):
                continue
        killed += found
        if not found:
            break
        time.sleep(0.05)
    return killed


# Kept whole (complexity 14): the child, its file descriptors and its process group live in one try/finally.
def run(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, stdout_path: Path,
        stderr_path: Path, log_cap_bytes: int, token: str, stop: _Flag | None = None,
        extra_fds: tuple[int, ...] = ()) -> ChildOutcome:
    """Run `argv` and wait for it, its timeout, or `stop` (then it is killed like a timeout). `stop` is
    polled as the child runs: a threading.Event, or anything with an `is_set()`.

    `extra_fds` are handed to the child and closed here once it has started (this process keeps no copy).
    """
    t0 = time.monotonic()
    life_r, life_w = os.pipe()  # both non-inheritable: other children of this process never hold them
    try:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env={**env, LIFELINE_VAR: str(life_r)},
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True, close_fds=True, pass_fds=(life_r, *extra_fds))
        finally:
            for fd in (life_r, *extra_fds):
                os.close(fd)  # once only: closing a number twice may close another thread's new file
        counts = ([0], [0])
        readers = [threading.Thread(target=_drain, args=(s, p, log_cap_bytes, c), daemon=True)
                   for s, p, c in ((proc.stdout, stdout_path, counts[0]), (proc.stderr, stderr_path, counts[1]))]
        for r in readers:
            r.start()
        timed_out = interrupted = False
        deadline = t0 + timeout
        ended, usage = _reap(proc, block=False)
        while not ended:
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                timed_out = time.monotonic() >= deadline
                interrupted = not timed_out
                _kill_group(proc.pid)
                break
            time.sleep(max(0.0, min(0.02, deadline - time.monotonic())))
            ended, usage = _reap(proc, block=False)
        if not ended:
            ended, usage = _reap(proc, block=True)
            usage = None  # killed: the descendants it had not waited for are missing from its accounting
        returncode = proc.returncode
        wall = time.monotonic() - t0
        _kill_group(proc.pid)  # children the candidate left in its group
        stragglers = kill_token_holders(token)
    finally:
        os.close(life_w)  # the child's lifeline reads end-of-file from here on
    for r in readers:
        r.join(timeout=5)
    cpu = round(usage.ru_utime + usage.ru_stime, 3) if usage is not None else None
    rss = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10) if usage is not None else None
    return ChildOutcome(returncode, timed_out, interrupted, wall, counts[0][0], counts[1][0], stragglers, cpu,
                        None if rss is None else round(rss, 1))


def _reap(proc: subprocess.Popen, block: bool) -> tuple[bool, object | None]:
    """(ended, its resource usage): once the child has ended its exit code is set on `proc`."""
    try:
        pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere: the exit code is known, the accounting is not
        proc.wait()
        return True, None
    if pid == 0:
        return False, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return True, usage


def tail(path: Path, limit: int = 2000) -> str:
    """The last `limit` characters of a log file (decoded leniently)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
