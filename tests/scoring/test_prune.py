"""Pruning: the rule on recorded curves, and the trusted referee stopping a real training with it."""

from __future__ import annotations

import math

import pytest

from evolve.config import Pruning
from scoring import prune
from scoring.api import score
from scoring.result import OK, PRUNED

# Monitoring curves recorded by bench/offline_edits.py (full budget, seed 1337, 2026-12-02): steps 0..300
# every 30; the final fitness beside each. swiglu starts slowly and ends better than grad_clip, which leads
# it by 0.068 at step 90 (the largest lead over a winner after the warm-up in the whole catalog); the
# warmup-stable-decay schedule holds a high rate until its last fifth and ends better than cosine decay.
STEPS = tuple(range(0, 301, 30))
CURVES = {
    "seed": (2.3336, (4.4778, 2.9448, 2.7098, 2.6361, 2.5804, 2.5484, 2.5294, 2.4844, 2.4451, 2.4009, 2.3585)),
    "warmup_stable_decay": (2.1591, (4.4778, 2.8794, 2.6652, 2.6044, 2.5275, 2.4814, 2.4406, 2.3716, 2.3168,
                                     2.2351, 2.1864)),
    "warmup_cosine": (2.2706, (4.4778, 2.8795, 2.6681, 2.5997, 2.5482, 2.4744, 2.4416, 2.3869, 2.3458, 2.3156,
                               2.2973)),
    "swiglu": (2.2788, (4.4603, 3.1547, 2.7668, 2.6574, 2.5908, 2.5573, 2.5261, 2.4819, 2.42, 2.3661, 2.2993)),
    "grad_clip": (2.2946, (4.4778, 2.8023, 2.6433, 2.5893, 2.5443, 2.5126, 2.4834, 2.4436, 2.403, 2.3591,
                           2.3163)),
    "muon": (1.9195, (4.4778, 2.759, 2.5545, 2.3766, 2.2645, 2.171, 2.127, 2.069, 2.0305, 1.9804, 1.9584)),
}
BUDGET = 300
DEFAULT = Pruning()  # the settings' warm-up share and calibrated margin


def _rule(reference: str, warmup: float = DEFAULT.warmup, margin: float = DEFAULT.margin) -> prune.Rule:
    return prune.Rule(warmup, margin, 7, STEPS, CURVES[reference][1])


def _first_prune(rule: prune.Rule, curve: str) -> tuple[int, str] | None:
    """Replay the curve one monitoring evaluation at a time, as the referee sees it."""
    stopped = prune.replay(rule, BUDGET, STEPS, CURVES[curve][1])
    return (STEPS[stopped[0] - 1], stopped[1]) if stopped else None


def test_a_clearly_worse_curve_is_pruned_after_the_warm_up_and_the_reason_says_against_what():
    step, why = _first_prune(_rule("muon"), "seed")
    assert step == 90  # the first evaluation at or past 30% of the budget
    assert "step 90 of 300" in why and "candidate #7" in why and f"margin {DEFAULT.margin:g}" in why
    assert _first_prune(_rule("muon", warmup=0.5), "seed")[0] == 150


@pytest.mark.parametrize("winner,reference", [("swiglu", "grad_clip"), ("warmup_stable_decay", "warmup_cosine"),
                                              ("warmup_stable_decay", "seed"), ("muon", "seed")])
def test_a_curve_that_ends_better_than_its_reference_is_not_pruned(winner, reference):
    assert CURVES[winner][0] < CURVES[reference][0]
    assert _first_prune(_rule(reference), winner) is None


def test_the_margin_is_what_spares_the_slow_starter():
    # with half the calibrated margin, swiglu (which ends better) would have been stopped at step 90
    assert _first_prune(_rule("grad_clip", margin=0.05), "swiglu")[0] == 90


def test_no_decision_before_the_warm_up_at_the_budget_or_beyond_the_reference():
    rule = _rule("muon")
    worse = tuple(v + 1.0 for v in CURVES["muon"][1])
    assert prune.decide(rule, BUDGET, STEPS[:3], worse[:3]) is None  # step 60 < 90
    assert prune.decide(rule, BUDGET, STEPS, worse) is None  # step 300: only the final evaluation is left
    short = prune.Rule(0.3, 0.1, 7, STEPS[:4], CURVES["muon"][1][:4])  # the reference stops at step 90
    assert prune.decide(short, BUDGET, STEPS[:5], worse[:5]) is None
    assert prune.decide(short, BUDGET, STEPS[:4], worse[:4]) is not None


def test_the_reference_is_its_running_best_interpolated_between_evaluations():
    rule = prune.Rule(0.0, 0.1, 3, (0, 100, 200), (3.0, 2.0, 2.5))
    assert prune.reference_at(rule, 50) == pytest.approx(2.5)
    assert prune.reference_at(rule, 150) == pytest.approx(2.0)  # the bump to 2.5 is not its best
    assert prune.reference_at(rule, 250) is None
    assert prune.Rule.from_json(rule.to_json()) == rule


def test_a_candidate_without_a_finite_loss_is_pruned_and_one_nan_does_not_decide():
    rule = _rule("muon")
    nan = math.nan
    assert "no finite validation loss" in prune.decide(rule, BUDGET, STEPS[:4], (nan,) * 4)
    good = list(CURVES["muon"][1][:5])
    good[4] = nan  # one non-finite evaluation: its best so far still counts against the reference
    assert prune.decide(_rule("seed"), BUDGET, STEPS[:5], good) is None
    assert prune.Rule.from_json(prune.Rule(0.3, 0.1, 1, (0, 1), (nan, 2.0)).to_json()).losses[1] == 2.0


def test_a_reference_whose_monitoring_dives_below_its_fitness_is_raised_to_it():
    """A model that learned the monitoring windows (their inputs are sent to it) must not set a bar that its
    honest children cannot reach: the reference is never lower than its own fitness vouches for."""
    fitness, honest = CURVES["seed"]
    memorized = tuple(v - (0.5 if s >= 90 else 0.0) for s, v in zip(STEPS, honest, strict=True))
    raw = prune.Rule(0.3, DEFAULT.margin, 7, STEPS, memorized)
    held = prune.Rule(0.3, DEFAULT.margin, 7, STEPS, prune.held_to(memorized, fitness))
    assert _first_prune(raw, "seed") is not None  # its own honest program would be pruned against it
    assert _first_prune(held, "seed") is None
    assert _first_prune(held, "muon") is None and _first_prune(_rule("muon"), "seed") is not None
    # every recorded honest run's monitoring stays above its fitness: held_to leaves them as they are
    for fit, curve in CURVES.values():
        assert prune.held_to(curve, fit) == curve


# ---- through the sandbox: the referee decides, the candidate's process ends -------------------------------

SMOKE_STEPS = tuple(range(11))  # the smoke budget: 10 batches, an evaluation before each and at the end


def test_the_referee_prunes_a_real_training_and_keeps_its_partial_curve(task, tmp_path):
    unbeatable = prune.Rule(0.3, 0.1, 5, SMOKE_STEPS, (0.5,) * 11)
    r = score({}, task, smoke=True, workdir=tmp_path / "pruned", prune=unbeatable)
    assert r.status == PRUNED, r.reason
    assert r.reason.startswith("pruned at step 3 of 10") and "candidate #5" in r.reason
    assert r.vloss_steps == (0, 1, 2, 3) and len(r.vloss_history) == 4 and r.steps == 3
    assert r.best_vloss is None  # no final evaluation: a pruned candidate has no fitness
    assert r.elapsed_s is not None
    assert r.train_flops is None  # measured in the final evaluation's fresh process, never reached when pruned
    # the candidate's process ended itself on the verdict: its accounting is there, nothing was killed
    assert r.cpu_s is not None and not any("killed" in n for n in r.notes)


def test_a_reference_it_keeps_up_with_lets_it_train_to_the_end(task, tmp_path):
    beatable = prune.Rule(0.3, 0.1, 5, SMOKE_STEPS, (9.0,) * 11)
    r = score({}, task, smoke=True, workdir=tmp_path, prune=beatable)
    assert r.status == OK, r.reason
    assert r.vloss_steps == SMOKE_STEPS and r.steps == 10


IGNORES_THE_VERDICT = '''
import os as _os
import time as _time
_os._exit = lambda code: None  # the runner's exit on "pruned" does nothing now


def _train_forever():
    while True:
        try:
            return _seed_train()
        except BaseException:
            _time.sleep(0.2)  # swallow every stop and keep the slot busy


_seed_train, train = train, _train_forever
'''


def test_a_candidate_that_ignores_being_pruned_is_killed_soon_after_the_verdict(task, tmp_path):
    files = {"train_mps.py": task.seed_files["train_mps.py"] + IGNORES_THE_VERDICT}
    unbeatable = prune.Rule(0.3, 0.1, 5, SMOKE_STEPS, (0.5,) * 11)
    r = score(files, task, smoke=True, workdir=tmp_path, prune=unbeatable, timeout=60)
    assert r.status == PRUNED, r.reason
    assert any("after the referee's verdict and was killed" in n for n in r.notes), r.notes
    assert r.wall_s < 40  # not the 60 s timeout
