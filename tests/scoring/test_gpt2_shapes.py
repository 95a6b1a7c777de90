"""A task at nanoGPT's GPT-2 shapes: vocabulary 50,304, block 1024, batch 12, as a user would make it (the
built-in task's files with those numbers changed and a one-layer model, tokens imported with `evolve data
import`). Its seed is scored `ok` with the smoke budget within the smoke timeout, with a fitness, a test
loss and the probe, while the referee and the final evaluation's processes stay under 2 GB: a batch of
logits is 2.47 GB, and none of them holds one (scoring/logits.py).

The fitness is the one the whole logits give: the snapshot the scoring left is run here on the plan's fitness
windows and read with a float64 log-softmax.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scoring.api import score
from scoring.result import OK
from scoring.task import load_task
from tests.helpers import run_cli, whole_logits_reading

pytestmark = pytest.mark.slow

V, T, B = 50304, 1024, 12
SEED_TASK = Path(__file__).resolve().parents[2] / "seeds" / "tasks" / "nanogpt_shakespeare"
SCORING_PEAK_MB = 2000


def _tokens(n: int, seed: int) -> np.ndarray:
    """A learnable stream: each token mostly follows from the one before, over the whole vocabulary."""
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.int64)
    out[0] = 0
    jumps = rng.integers(0, V, n)
    follow = rng.random(n) < 0.7
    for i in range(1, n):
        out[i] = (out[i - 1] * 7 + 13) % V if follow[i] else jumps[i]
    return out.astype(np.uint16)


@pytest.fixture(scope="module")
def gpt2_task(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("gpt2-tokens")
    _tokens(200_000, 1).tofile(src / "train.bin")
    _tokens(90_000, 2).tofile(src / "val.bin")
    (src / "meta.json").write_text(json.dumps({"vocab_size": V}))
    r = run_cli("data", "import", "gpt2_shapes", "--train", str(src / "train.bin"), "--val", str(src / "val.bin"),
                "--meta", str(src / "meta.json"), "--force")
    assert r.returncode == 0, r.stderr
    root = tmp_path_factory.mktemp("gpt2-task")
    shutil.copytree(SEED_TASK, root, dirs_exist_ok=True)
    toml = (root / "task.toml").read_text()
    (root / "task.toml").write_text(toml.replace('dataset = "shakespeare_char"', 'dataset = "gpt2_shapes"')
                                    .replace('name = "nanogpt_shakespeare"', 'name = "gpt2_shapes"'))
    train = (root / "train_mps.py").read_text()
    for old, new in [("BLOCK_SIZE = 64 ", "BLOCK_SIZE = 1024 "), ("BATCH_SIZE = 32 ", "BATCH_SIZE = 12 "),
                     ("MAX_ITERS = 10 if SMOKE", "MAX_ITERS = 2 if SMOKE"), ('"shakespeare_char"', '"gpt2_shapes"'),
                     ("N_LAYER = 4", "N_LAYER = 1"), ("N_EMBD = 128", "N_EMBD = 32"),
                     # what is measured is the harness: train on one row of each batch (a CPU step on all twelve
                     # takes half a minute) and evaluate once, at the end
                     ("get_batch()\n        logits = model(x)\n", "get_batch()\n        logits = model(x[:1])\n"),
                     ("y.view(-1))", "y[:1].reshape(-1))"),
                     ("if it % EVAL_INTERVAL == 0 or it == MAX_ITERS:", "if it == MAX_ITERS:")]:
        assert old in train, old
        train = train.replace(old, new)
    (root / "train_mps.py").write_text(train)
    return root


def test_the_seed_at_gpt2_shapes_is_scored_ok_and_the_scoring_stays_small(gpt2_task, tmp_path):
    task = load_task(gpt2_task)
    r = score({}, task, smoke=True, workdir=tmp_path / "run")
    assert r.status == OK, r.reason
    assert r.wall_s < task.timeout(True)
    assert r.best_vloss is not None and r.test_loss is not None and r.steps == 2
    assert r.scoring_rss_mb is not None and r.scoring_rss_mb < SCORING_PEAK_MB, r.scoring_rss_mb

    # the fitness and the test loss are the whole logits' (fixed windows: the same in every evaluation)
    fitness, test = whole_logits_reading(tmp_path / "run" / "run", "gpt2_shapes", T, B, 1)
    assert r.best_vloss == pytest.approx(fitness, abs=1e-5) and r.test_loss == pytest.approx(test, abs=1e-5)
