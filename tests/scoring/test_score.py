"""Scoring end to end: the seed, and one small crafted candidate per failure the sandbox must name."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from scoring import data
from scoring.api import score
from scoring.result import (
    CAUSAL_LEAK,
    CONSTRAINT_VIOLATION,
    CRASHED,
    INTEGRITY_VIOLATION,
    INVALID_RESULT,
    OK,
    REJECTED,
    TIMEOUT,
)
from tests.helpers import whole_logits_reading


def edit(task, file: str, old: str, new: str, count: int = 1) -> dict[str, str]:
    """The seed with one textual edit; fails loudly if the anchor is gone so tests never go stale."""
    text = task.seed_files[file]
    assert text.count(old) >= count, f"anchor not found in {file}: {old!r}"
    return {file: text.replace(old, new, count)}


RETURN = "    return best_vloss, elapsed_min"


def test_seed_scores_ok_with_all_figures(task, tmp_path):
    r = score({}, task, smoke=True, workdir=tmp_path)
    assert r.status == OK, r.reason
    assert 1.0 < r.best_vloss < 5.0
    # train()'s claim is its lowest monitoring loss; the fitness is the referee's final evaluation of the
    # model it left, on other windows: close to the last monitoring loss, not equal to it
    assert r.returned_vloss == pytest.approx(min(r.vloss_history), abs=1e-6)
    assert r.best_vloss != r.vloss_history[-1] and abs(r.best_vloss - r.vloss_history[-1]) < 0.2
    assert r.test_loss is not None and 1.0 < r.test_loss < 5.0
    assert r.steps == 10  # the smoke budget, counted by the referee that sent the batches
    assert len(r.vloss_history) == 11 and r.trusted_s > 0
    assert r.elapsed_s > 0 and r.startup_s > 0 and r.wall_s >= r.elapsed_s
    assert r.device == "cpu"
    assert "val loss" in Path(r.stdout_path).read_text()
    assert 0 < r.cpu_s < 4 * r.wall_s and r.max_rss_mb > 100  # the parent's accounting of the child
    # two numbers a position on the wire (scoring/logits.py) give what the whole logits gave, to float32 rounding
    fitness, test = whole_logits_reading(tmp_path / "run", task.dataset, 64, 32, 1)
    assert r.best_vloss == pytest.approx(fitness, abs=1e-6) and r.test_loss == pytest.approx(test, abs=1e-6)


def test_the_seed_step_flops_are_the_hand_count_for_its_shapes(task):
    """Measured on the trusted side: torch's count of the trained model's forward pass on one final batch,
    in the fresh process (32 x 64 tokens; 4 layers, 128 wide, 84-token vocabulary), times three for a
    training step. Per layer the four linear layers are 2 * 12 * N * C^2 (N = B * T) and the attention's
    two products 4 * B * T^2 * C; the head 2 * N * C * V."""
    r = score({}, task, smoke=True)
    B, T, C, L, V = 32, 64, 128, 4, data.dataset().meta["vocab_size"]
    N = B * T
    assert r.step_flops == 3 * (24 * L * N * C * C + 2 * N * C * V + L * 4 * B * T * T * C)
    assert r.train_flops == r.step_flops * r.steps
    wider = score(edit(task, "train_mps.py", "N_EMBD = 128", "N_EMBD = 256"), task, smoke=True)
    assert wider.step_flops > 3 * r.step_flops  # the linear layers grow with C^2


def test_same_seed_same_loss_other_seed_other_loss(task):
    a = score({}, task, seed=7, smoke=True)
    b = score({}, task, seed=7, smoke=True)
    c = score({}, task, seed=8, smoke=True)
    assert a.status == b.status == c.status == OK
    assert a.best_vloss == b.best_vloss
    assert a.vloss_history == b.vloss_history
    assert c.best_vloss != a.best_vloss


def test_loop_forever_is_killed_at_the_timeout(task):
    forever = "    t0 = time.time()\n    print('about to spin')\n    while True:\n        pass\n"
    files = edit(task, "train_mps.py", "    t0 = time.time()\n", forever)
    t0 = time.monotonic()
    r = score(files, task, smoke=True, timeout=6)
    assert r.status == TIMEOUT
    assert "6 s timeout" in r.reason
    assert time.monotonic() - t0 < 20
    assert "about to spin" in r.log_tail  # unbuffered: what it printed before the kill is kept


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to look for leftover processes")
def test_no_process_left_behind_after_a_timeout(task):
    marker = f"evolve-orphan-{os.getpid()}"
    sleeper = "['import time; time.sleep(300)', '" + marker + "']"
    spawn = (
        "    import subprocess, sys\n"
        f"    kids = [subprocess.Popen([sys.executable, '-c', *{sleeper}]),\n"
        f"            subprocess.Popen(['setsid', sys.executable, '-c', *{sleeper}])]\n"
        "    time.sleep(1)\n"
        "    print('sleepers alive:', sum(k.poll() is None for k in kids), flush=True)\n"
        "    while True:\n        pass\n"
    )
    files = edit(task, "train_mps.py", "    t0 = time.time()\n", "    t0 = time.time()\n" + spawn)
    r = score(files, task, smoke=True, timeout=15)
    assert r.status == TIMEOUT
    assert r.cpu_s is None  # a killed child's accounting misses what it had not waited for: none is recorded
    assert "sleepers alive: 2" in r.log_tail  # they did run, so their absence below means something
    time.sleep(0.2)
    assert _processes_with(marker) == []


def test_exception_is_a_crash_with_its_message(task):
    r = score(edit(task, "train_mps.py", RETURN, "    raise ValueError('boom from the candidate')"), task,
              smoke=True)
    assert r.status == CRASHED
    assert "ValueError: boom from the candidate" in r.reason


def test_nan_is_an_invalid_result(task):
    r = score(edit(task, "train_mps.py", RETURN, "    return float('nan'), elapsed_min"), task, smoke=True)
    assert r.status == INVALID_RESULT
    assert "nan" in r.reason


def test_wrong_type_is_an_invalid_result(task):
    r = score(edit(task, "train_mps.py", RETURN, "    return str(best_vloss), elapsed_min"), task, smoke=True)
    assert r.status == INVALID_RESULT
    assert "type str" in r.reason


def test_changed_frozen_batch_size_is_refused_before_running(task):
    r = score(edit(task, "train_mps.py", "BATCH_SIZE = 32", "BATCH_SIZE = 64"), task, smoke=True)
    assert r.status == CONSTRAINT_VIOLATION
    assert "BATCH_SIZE = 32" in r.reason and "BATCH_SIZE = 64" in r.reason
    assert r.wall_s is None  # nothing ran


def test_syntax_error_is_rejected_before_running(task):
    r = score({"model.py": "def broken(:\n"}, task, smoke=True)
    assert r.status == REJECTED
    assert "syntax error in model.py line 1" in r.reason


def test_a_loss_it_never_evaluated_is_an_integrity_violation(task):
    r = score(edit(task, "train_mps.py", RETURN, "    return best_vloss - 0.5, elapsed_min"), task, smoke=True)
    assert r.status == INTEGRITY_VIOLATION
    assert "lowest validation loss" in r.reason
    assert r.best_vloss is not None  # the real figure is still recorded


def test_training_past_the_budget_through_an_alias_is_caught(task):
    # An alias taken at import time bypasses a rebinding of the module global; the hook still counts it.
    files = edit(task, "train_mps.py", "EVAL_INTERVAL = ", "_next = get_batch\nEVAL_INTERVAL = ")
    text = files["train_mps.py"].replace(
        "    elapsed_min = (time.time() - t0) / 60",
        "    for _ in range(5):\n        _next()\n    elapsed_min = (time.time() - t0) / 60",
    )
    r = score({"train_mps.py": text}, task, smoke=True)
    assert r.status == INTEGRITY_VIOLATION
    assert "more than MAX_ITERS=10 training batches" in r.reason


def test_frozen_constant_changed_at_run_time_is_caught(task):
    # The name is built at run time, so the static guard cannot see it; the runner's check must.
    sneaky = "    import sys\n    setattr(sys.modules[__name__], 'MAX_' + 'ITERS', 5)\n    t0 = time.time()\n"
    r = score(edit(task, "train_mps.py", "    t0 = time.time()\n", sneaky), task, smoke=True)
    assert r.status == INTEGRITY_VIOLATION
    assert "frozen MAX_ITERS is 5" in r.reason


def test_attention_without_causal_mask_is_a_causal_leak(task):
    r = score(edit(task, "model.py", "is_causal=True", "is_causal=False"), task, smoke=True)
    assert r.status == CAUSAL_LEAK
    assert "changed by" in r.reason


def test_secret_in_the_parent_is_not_visible_to_the_candidate(task, monkeypatch):
    secret = "sk-test-do-not-leak-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("EVOLVE_DB_URL", "postgresql://user:pw@host/db")
    probe = (
        "    import os\n"
        "    leaked = [k for k, v in os.environ.items() if 'sk-test' in v or 'KEY' in k or 'DB_URL' in k]\n"
        "    print('visible secrets:', leaked)\n"
        "    if leaked:\n        raise RuntimeError(f'saw {leaked}')\n"
        "    t0 = time.time()\n"
    )
    r = score(edit(task, "train_mps.py", "    t0 = time.time()\n", probe), task, smoke=True)
    assert r.status == OK, r.reason
    assert "visible secrets: []" in r.log_tail
    assert secret not in r.log_tail


def test_a_diverged_model_is_an_invalid_result_not_an_integrity_violation(task):
    # NaN weights must compare equal to themselves in the parameter tripwire around each evaluation batch
    r = score(edit(task, "train_mps.py", "LEARNING_RATE = 1e-3", "LEARNING_RATE = 1e9"), task, smoke=True)
    assert r.status == INVALID_RESULT and "the final validation loss is nan" in r.reason
