"""Stopping a training that cannot win: the rule the trusted referee applies at each monitoring evaluation.

The referee (scoring/referee.py) computes every in-training validation loss itself, and counts the
training batches it has served, so the curve this rule reads is the referee's own: candidate code cannot
change it. After a warm-up share of the budget, a candidate whose best loss so far is worse than the
reference curve's best at the same step by more than the margin is stopped and ends `pruned`.

The reference is a finished candidate's curve: the controller sends its island's best, fixed when the
candidate was proposed (so a resumed campaign prunes exactly as the original would have), and never lower
than that candidate's own fitness vouches for (`held_to`). Both curves are compared as running minima
(noise in one monitoring evaluation does not decide), the reference's linearly interpolated between its
evaluations; where the reference has no evaluation at or beyond the step, nothing is decided. The margin
is calibrated from real curves (bench/prune_calibration.py): a program that starts slowly or decays its
learning rate late can trail its reference for much of the run and still end better, and it must not be
pruned.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    """The rule's settings and the reference curve one evaluation is held to."""

    warmup: float  # share of the training budget (batches) before any decision
    margin: float  # nats above the reference's best so far, at the same step, that stop the candidate
    reference: int  # the candidate whose curve this is (named in the reason)
    steps: tuple[int, ...]  # training batches before each of its monitoring evaluations
    losses: tuple[float, ...]  # its monitoring losses (NaN where one was not finite)

    def to_json(self) -> dict[str, Any]:
        return {"warmup": self.warmup, "margin": self.margin, "reference": self.reference,
                "steps": list(self.steps), "losses": [v if math.isfinite(v) else None for v in self.losses]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Rule:
        losses = tuple(math.nan if v is None else float(v) for v in d["losses"])
        return cls(float(d["warmup"]), float(d["margin"]), int(d["reference"]), tuple(int(s) for s in d["steps"]),
                   losses)


def held_to(losses: Sequence[float], fitness: float | None) -> tuple[float, ...]:
    """The curve a finished candidate holds others to: its monitoring losses, raised by as much as the lowest
    of them undercuts its own final fitness on that seed.

    The monitoring windows' inputs are sent to the candidate, the fitness windows never are. Honest runs'
    monitoring losses sit above their fitness (0.02 to 0.04 nats on the built-in task, every offline edit);
    a model that learned the monitoring windows would otherwise set a bar its honest children cannot reach.
    """
    finite = [v for v in losses if math.isfinite(v)]
    lift = fitness - min(finite) if finite and fitness is not None and math.isfinite(fitness) else 0.0
    return tuple(v + max(0.0, lift) for v in losses)


def running_best(steps: Sequence[int], losses: Sequence[float]) -> list[tuple[int, float]]:
    """(step, lowest finite loss up to it) at each evaluation from the first finite one on."""
    out: list[tuple[int, float]] = []
    best = math.inf
    for step, loss in zip(steps, losses, strict=True):
        if math.isfinite(loss):
            best = min(best, loss)
        if math.isfinite(best):
            out.append((step, best))
    return out


def reference_at(p: Rule, step: int) -> float | None:
    """The reference's best loss by `step`, interpolated between its evaluations; None outside them."""
    curve = running_best(p.steps, p.losses)
    if not curve or step < curve[0][0] or step > curve[-1][0]:
        return None
    i = bisect_right([s for s, _ in curve], step) - 1
    s0, v0 = curve[i]
    if s0 == step or i + 1 == len(curve):
        return v0
    s1, v1 = curve[i + 1]
    return v0 + (v1 - v0) * (step - s0) / (s1 - s0)


def decide(p: Rule, budget: int, steps: Sequence[int], losses: Sequence[float]) -> str | None:
    """Why the candidate should stop now, after its latest monitoring evaluation, or None.

    `steps` and `losses` are its curve so far (the referee's count and losses); `budget` the most training
    batches it may draw. Nothing is decided before the warm-up share, or once the budget is spent (all
    that is left is the final evaluation).
    """
    if not steps:
        return None
    step = steps[-1]
    if step < p.warmup * budget or step >= budget:
        return None
    theirs = reference_at(p, step)
    if theirs is None:
        return None
    mine = running_best(steps, losses)
    if not mine:  # diverged from the start: no finite loss to compare
        return (f"pruned at step {step} of {budget}: no finite validation loss so far, candidate #{p.reference} "
                f"had {theirs:.4f} at that step")
    best = mine[-1][1]
    if best - theirs <= p.margin:
        return None
    return (f"pruned at step {step} of {budget}: its best validation loss so far, {best:.4f}, is "
            f"{best - theirs:.4f} above candidate #{p.reference}'s {theirs:.4f} at that step (margin {p.margin:g})")


def replay(p: Rule, budget: int, steps: Sequence[int], losses: Sequence[float]) -> tuple[int, str] | None:
    """A whole recorded curve, one monitoring evaluation at a time as the referee sees it: (how many
    evaluations it had when the rule stopped it, why), or None when it would have trained to the end."""
    for k in range(1, len(losses) + 1):
        why = decide(p, budget, steps[:k], losses[:k])
        if why:
            return k, why
    return None
