"""The names campaigns decide on and rows store, defined once: operators and the queue states of a candidate.

StrEnums, so they are stored, printed and compared as the plain strings they stand for. The statuses an
evaluation can end with are scoring's (`scoring.result.Status`); the causes a campaign ends with are
`evolve.campaign.Stop`; why a proposal gave nothing to train is `evolve.progress.Cause`.
"""

from __future__ import annotations

from enum import StrEnum


class Operator(StrEnum):
    SEED = "seed"  # a starting program (the task's seed, or one imported with --from)
    MUTATE = "mutate"
    CROSSOVER = "crossover"
    REPAIR = "repair"


class Queued(StrEnum):
    """A candidate's status before it has a final one (a scoring.result.Status)."""

    PENDING = "pending"  # proposed, screened, waiting for a slot
    RUNNING = "running"  # being evaluated
