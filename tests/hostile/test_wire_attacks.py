"""Red team: a candidate that talks to the referee's socket itself, to get around the compute caps or to make
the referee run out of memory or time.

The candidate finds the runner's socket through the garbage collector (as `requests_batches_on_socket`
does) and sends what the runner never would:

(a) a fresh `begin` before every training batch, under a task whose `max_train_seconds` the same training
    with a sleep per step exceeds (that control ends over_budget): the referee's clock must not restart
    (over_budget or integrity_violation, never ok);
(b) its own second batch request carrying `step_flops=1.0`, under a task whose `max_train_flops` the
    unchanged seed exceeds (that control ends over_budget): the FLOPs must not be the candidate's word
    (over_budget or integrity_violation, never ok);
(c) a batch request whose header declares two arrays of 1.5 GiB, streamed from a 1 MiB buffer,
(c') the same header with none of the arrays' bytes ever sent (the referee must not allocate what a
    header declares, nor wait for it), and
(d) a header of 1 MiB declaring tens of thousands of arrays (1.4 GiB in all), streamed the same way:
    refused from the header (integrity_violation), the evaluation over well within its timeout, and the
    referee's peak resident memory (VmHWM, read from /proc while it runs) under 1 GB.

Each candidate uses the hand-drawn batch as one of its MAX_ITERS training batches, so on a referee that
accepts the message it trains normally and is scored `ok`.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from scoring.api import score
from scoring.task import load_task
from tests.hostile.zoo import TASK_DIR, Hostile, build

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the referee's memory in /proc")]

TIMEOUT = 120.0  # seconds for one evaluation; an attack must end well within it
SLEEP_PER_STEP = 3.0  # (a): the control's 10 smoke steps take at least 30 s, so ...
MAX_TRAIN_SECONDS = 20.0  # ... this cap stops it, while the seed (5-12 s on two loaded cores) passes it
SMOKE_FLOPS_CAP = 5e10  # (b): the seed's 10 smoke steps count ~1.07e11 (1.07e10 a step, BENCHMARKS: 3.2e12 / 300)
REFEREE_PEAK_LIMIT_KB = 1_000_000  # 1 GB

FIND_SOCKET = """
import gc
import json
import socket
import struct
from scoring import wire
_sock = next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() >= 0)
"""

SLOW_STEP = ("train_mps.py", "        optimizer.step()\n",
             f"        optimizer.step()\n        time.sleep({SLEEP_PER_STEP})  # a slow device\n")
BEGIN_EVERY_BATCH = ("train_mps.py", "        x, y = get_batch()\n",
                     "        wire.send(_sock, \"begin\", device=DEVICE)  # the clock starts again\n"
                     "        x, y = get_batch()\n")


def _hand_drawn_second_batch(send: str) -> tuple[str, str, str]:
    """An edit: at the second step, `send` (code that sends a batch request on _sock) replaces get_batch(),
    and the batch the referee answers with is trained on (a refusal ends train() as the runner would)."""
    body = "\n".join("            " + line for line in send.strip("\n").splitlines())
    return ("train_mps.py", "        x, y = get_batch()\n", f"""        if it == 1:
{body}
            _h, _a = wire.recv(_sock)
            if _h["kind"] != "batch":
                raise RuntimeError(f"the referee answered {{_h}}")
            x, y = (torch.from_numpy(a.copy()).to(DEVICE) for a in _a)
        else:
            x, y = get_batch()
""")


FORGED_FLOPS = _hand_drawn_second_batch('wire.send(_sock, "batch", step_flops=1.0)')

# (c): two arrays of 1.5 GiB (each under the wire's 2 GiB array limit), from one 1 MiB buffer
HUGE_ARRAYS = _hand_drawn_second_batch("""
_n = 3 * 2**29  # 1.5 GiB
_head = json.dumps({"kind": "batch", "arrays": [["float64", [_n // 8]], ["float64", [_n // 8]]]}).encode()
_sock.sendall(struct.pack(">I", len(_head)) + _head)
_chunk = bytes(1 << 20)
for _ in range(2 * _n // len(_chunk)):
    _sock.sendall(_chunk)
""")

# (c'): the same header, and not one byte of the arrays: the candidate then waits for its batch
DECLARED_ONLY = _hand_drawn_second_batch("""
_n = 3 * 2**29  # 1.5 GiB
_head = json.dumps({"kind": "batch", "arrays": [["float64", [_n // 8]], ["float64", [_n // 8]]]}).encode()
_sock.sendall(struct.pack(">I", len(_head)) + _head)
""")

# (d): a header of exactly 1 MiB (the wire's header limit) listing 45,000 arrays of 32 KiB
MANY_ARRAYS = _hand_drawn_second_batch("""
_k = 45_000
_head = {"kind": "batch", "arrays": [["float32", [8192]]] * _k, "pad": ""}
_head["pad"] = "x" * ((1 << 20) - len(json.dumps(_head).encode()))
_head = json.dumps(_head).encode()
assert len(_head) == 1 << 20
_sock.sendall(struct.pack(">I", len(_head)) + _head)
_left = _k * 8192 * 4
_chunk = bytes(1 << 20)
while _left > 0:
    _sock.sendall(_chunk[:_left])
    _left -= len(_chunk)
""")


def _task_with(tmp_path: Path, **caps: float):
    """A copy of the built-in task whose [evaluation] table (the last one in task.toml) sets `caps`."""
    root = tmp_path / "task"
    shutil.copytree(TASK_DIR, root)
    toml = root / "task.toml"
    toml.write_text(toml.read_text() + "".join(f"{k} = {v!r}\n" for k, v in caps.items()))
    task = load_task(root)
    for k, v in caps.items():
        assert getattr(task.objective, k) == v
    return task


def _score(task, tmp_path: Path, name: str, edits, **kwargs):
    files = build(Hostile(name, name, "", "", tuple(edits)), task, name, 0)
    workdir = tmp_path / "runs" / name
    workdir.mkdir(parents=True)
    return score(files, task, smoke=True, workdir=workdir, timeout=TIMEOUT, env={"OMP_NUM_THREADS": "1"},
                 **kwargs)


class RefereePeak:
    """Polls /proc, while an evaluation runs, for the referee of one run folder (a `scoring.referee`
    process working under it) and keeps the highest VmHWM (peak resident set, kB) it read."""

    def __init__(self, workdir: Path):
        self.root = str(workdir.resolve())
        self.peak_kb = 0
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    if b"scoring.referee" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    if not os.readlink(f"/proc/{pid}/cwd").startswith(self.root):
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.pids.add(int(pid))
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            time.sleep(0.01)


def test_a_fresh_begin_before_every_batch_does_not_restart_the_training_clock(tmp_path):
    task = _task_with(tmp_path, max_train_seconds=MAX_TRAIN_SECONDS)
    control = _score(task, tmp_path, "slow_control", [SLOW_STEP])
    assert control.status == "over_budget", (control.status, control.reason)
    attacker = _score(task, tmp_path, "slow_with_begins",
                      [("train_mps.py", "@start", FIND_SOCKET), SLOW_STEP, BEGIN_EVERY_BATCH])
    assert attacker.status in ("over_budget", "integrity_violation"), (attacker.status, attacker.reason,
                                                                        attacker.best_vloss)


def test_a_forged_step_flops_does_not_get_around_the_flops_cap(tmp_path):
    task = _task_with(tmp_path, max_train_flops=SMOKE_FLOPS_CAP)
    control = _score(task, tmp_path, "seed_control", [])
    assert control.status == "over_budget", (control.status, control.reason, control.train_flops)
    attacker = _score(task, tmp_path, "forged_step_flops", [("train_mps.py", "@start", FIND_SOCKET), FORGED_FLOPS])
    assert attacker.status in ("over_budget", "integrity_violation"), (attacker.status, attacker.reason,
                                                                        attacker.train_flops)


# (b'): the model's module, imported in the final evaluation's fresh process, drops the FLOPs count from the
# answer that process sends (the count is taken where the model's code runs)
WITHHELD_FLOPS = ("model.py", "import math\n", """import math
import scoring.logits as _logits
_answer = _logits.answer
def _without_flops(sock, header, x, out, **fields):
    return _answer(sock, header, x, out)
_logits.answer = _without_flops
""")


def test_a_flops_count_withheld_by_the_final_process_does_not_lift_the_flops_cap(tmp_path):
    """Without a count the cap cannot be checked: the candidate fails it (before, it was skipped: ok)."""
    task = _task_with(tmp_path, max_train_flops=SMOKE_FLOPS_CAP * 100)  # a cap the seed passes easily
    r = _score(task, tmp_path, "withheld_flops", [WITHHELD_FLOPS])
    assert r.status == "over_budget", (r.status, r.reason, r.train_flops)
    assert "did not report the forward pass's FLOPs" in r.reason


@pytest.mark.parametrize("name, edit", [("two_arrays_of_1_5_gib", HUGE_ARRAYS),
                                        ("two_arrays_of_1_5_gib_never_sent", DECLARED_ONLY),
                                        ("header_of_45000_arrays", MANY_ARRAYS)])
def test_an_oversized_batch_request_is_refused_from_its_header(tmp_path, task, name, edit):
    workdir = tmp_path / "runs" / name
    with RefereePeak(workdir) as peak:
        r = _score(task, tmp_path, name, [("train_mps.py", "@start", FIND_SOCKET), edit])
    assert r.status == "integrity_violation", (r.status, r.reason, r.best_vloss)
    assert r.wall_s < TIMEOUT / 2, r.wall_s
    assert peak.pids, "the referee was never seen in /proc (a `scoring.referee` process under the run folder)"
    assert peak.peak_kb < REFEREE_PEAK_LIMIT_KB, f"the referee's peak resident memory was {peak.peak_kb} kB"
