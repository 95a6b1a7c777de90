"""A task whose frozen names differ everywhere from the built-in task's (tests/tasks/gru_chars): the
referee reads every name from its task.toml, so it gets the same budget, probe, test loss and device."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.api import score
from scoring.result import CAUSAL_LEAK, INTEGRITY_VIOLATION, OK
from scoring.task import load_task

pytestmark = pytest.mark.slow
GRU = Path(__file__).resolve().parents[1] / "tasks" / "gru_chars"


@pytest.fixture(scope="module")
def gru():
    return load_task(GRU)


def protocol(t) -> set[str]:
    fz = t.frozen
    return {fz.eval_function, fz.batch_function, fz.budget_name, fz.max_evals_name, *fz.shape_names, *fz.private}


def test_the_task_shares_no_protocol_name_with_the_builtin_one(gru, task):
    assert not protocol(gru) & protocol(task)
    assert set(gru.frozen.names) & set(task.frozen.names) == {"SEED", "SMOKE"}  # only the harness's variables
    assert gru.entry_file != task.entry_file and gru.frozen.begin_marker != task.frozen.begin_marker


def test_its_seed_gets_a_fitness_a_test_loss_a_probe_and_its_device(gru):
    r = score({}, gru, smoke=True)
    assert r.status == OK, r.reason
    assert r.steps == 6 and len(r.vloss_history) == 7  # STEPS and the evaluations fit() makes
    assert 2.0 < r.best_vloss < 5.0 and 2.0 < r.test_loss < 5.0
    assert r.returned_vloss == pytest.approx(min(r.vloss_history), abs=1e-6)
    assert r.device == "cpu" and r.trusted_s > 0


def test_a_bidirectional_gru_is_a_causal_leak(gru):
    net = gru.seed_files["net.py"]
    leaky = net.replace("nn.GRU(emb, hidden, batch_first=True)", "nn.GRU(emb, hidden // 2, batch_first=True, "
                                                                  "bidirectional=True)")
    assert leaky != net
    r = score({"net.py": leaky}, gru, smoke=True)
    assert r.status == CAUSAL_LEAK, r.reason


def test_drawing_past_its_budget_is_refused_by_the_referee(gru):
    run = gru.seed_files["run.py"]
    greedy = run.replace("        x, y = sample_batch()\n", "        x, y = sample_batch()\n        sample_batch()\n")
    assert greedy != run
    r = score({"run.py": greedy}, gru, smoke=True)
    assert r.status == INTEGRITY_VIOLATION and "more than STEPS=6 training batches" in r.reason


CONV = Path(__file__).resolve().parents[2] / "seeds" / "tasks" / "conv_words"


def test_the_shipped_conv_task_on_imported_tokens_scores_and_its_leaks_are_caught(words_dataset):
    """The second shipped task: a convolutional LM over word-level Python tokens, imported from .bin files."""
    conv = load_task(CONV)
    assert words_dataset.meta["tokenizer"] == "imported" and words_dataset.meta["vocab_size"] == 2048
    r = score({}, conv, smoke=True)
    assert r.status == OK, r.reason
    assert r.steps == 8 and 4.0 < r.best_vloss < 7.7 and 4.0 < r.test_loss < 7.7  # ln(2048) = 7.62
    net = conv.seed_files["convnet.py"]
    peeking = net.replace("F.pad(x, (self.left, 0))", "F.pad(x, (self.left // 2, self.left - self.left // 2))")
    assert peeking != net
    assert score({"convnet.py": peeking}, conv, smoke=True).status == CAUSAL_LEAK
