"""How far ahead of the evaluation slots proposals are made, and when an LLM call counts as stalled.

A proposal is made from the population as it is when the proposal starts, so every job queued ahead of
the slots is a proposal made from an older population. The campaign keeps ready (queued or being
proposed) one job per free slot plus the evaluations that end during one LLM call: `lead` of them, from
the model's measured latency and the measured evaluation time. With an instant operator that is none:
each proposal starts when a slot frees and the slot waits only that call. Before the evaluation time is
known (the seed's own evaluation) it is one per slot. Before any call has finished, the longest call in
flight has already waited so long: the latency is at least that, and the lead grows with it (never below
one per slot), so a slow model's first calls do not leave the slots idle for a second round of calls.

A call that runs well past its model's usual latency is `stalled`: the campaign no longer counts on it for
the next job, and another proposal may start beside it (the LLM-call budget still counts it, and its reply
is recorded whenever it comes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

LEAD_FLOOR = 0.01  # calls shorter than this share of an evaluation are not worth a queued job
MARGIN = 1.5  # a latency figure is a running mean: the lead covers half as much again
SMOOTHING = 0.3  # weight of the newest call in the running mean
STALL_FACTOR = 4.0  # stalled past this many usual latencies ...
STALL_FLOOR_S = 10.0  # ... and never before this
STALL_UNMEASURED_S = 120.0  # a model with no finished call yet


class Latency:
    """A running mean of each model's call latency (seconds), failed calls included."""

    def __init__(self) -> None:
        self.mean: dict[str, float] = {}

    def add(self, model: str, seconds: float) -> None:
        old = self.mean.get(model)
        self.mean[model] = seconds if old is None else (1 - SMOOTHING) * old + SMOOTHING * seconds

    def expected(self, weights: Mapping[str, float]) -> float | None:
        """The latency of the next call, whose model is drawn by `weights`; None before any call finished."""
        known = {m: w for m, w in weights.items() if m in self.mean}
        if not known:
            return None
        return sum(self.mean[m] * w for m, w in known.items()) / sum(known.values())

    def stall_after(self, model: str) -> float:
        """Seconds after which a call to `model` counts as stalled."""
        usual = self.mean.get(model)
        return STALL_UNMEASURED_S if usual is None else max(STALL_FLOOR_S, STALL_FACTOR * usual)


def lead(latency_s: float | None, evaluation_s: float | None, slots: int, waited_s: float = 0.0) -> int:
    """Jobs to have ready beyond the free slots: those that end during one LLM call. `latency_s` is None
    before any call finished; the longest call in flight has then waited `waited_s`."""
    if evaluation_s is None or evaluation_s <= 0:
        return slots
    if latency_s is None:
        return max(slots, _covering(waited_s, evaluation_s, slots))
    return _covering(latency_s, evaluation_s, slots)


def _covering(latency_s: float, evaluation_s: float, slots: int) -> int:
    if latency_s < LEAD_FLOOR * evaluation_s:
        return 0
    return math.ceil(MARGIN * slots * latency_s / evaluation_s)
