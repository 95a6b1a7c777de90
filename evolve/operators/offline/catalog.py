"""The offline operator's catalog: every edit it knows for the built-in task, in a fixed order.

The order matters only for determinism (crossover adds B's edits in this order). The generic numeric
perturbation (perturb.py) is not an Edit: it applies to any task, and is chosen with GENERIC_TAGS.
"""

from __future__ import annotations

from evolve.operators.offline.edits import Edit
from evolve.operators.offline.model_edits import MODEL_EDITS
from evolve.operators.offline.train_edits import TRAIN_EDITS

CATALOG: tuple[Edit, ...] = MODEL_EDITS + TRAIN_EDITS
GENERIC_TAGS = ("experiment", "scaling")
PERTURB = "perturb"  # the generic edit's name in reply summaries: "[perturb] NAME old -> new"


def by_name(name: str) -> Edit:
    return next(e for e in CATALOG if e.name == name)
