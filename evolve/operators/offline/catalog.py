"""The offline operator's catalog: every edit it knows for the built-in task, in a fixed order.

The order matters only for determinism (crossover adds B's edits in this order). The generic numeric
perturbation (perturb.py) is not an Edit: it applies to any task, and is chosen with GENERIC_TAGS.
"""

from __future__ import annotations

from evolve.operators.offline.edits import Edit
from evolve.operators.offline.model_edits import MODEL_EDITS
from evolve.operators.offline.train_edits import TRAIN_EDITS

CATALOG: tuple[Edit, ...] = MODEL_EDITS + TRAIN_EDITS

# How readily an expert reaches for an edit on a small GPT, as a multiplier of its mutate weight (1 when
# absent). An LLM asked to improve this model brings priors from the literature; the stand-in carries
# these instead. The raised ones are the changes that set records in the public nanoGPT speedrun (Muon
# above all; rotary embeddings, ReLU^2, QK-norm, a warmup-stable-decay schedule). On this task each also
# helps alone at the full budget (BENCHMARKS.md, "Offline edits"), and they were set knowing that. A
# simulation of the demo campaign (measured edit effects plus seed noise, 100 campaign seeds) found a
# confirmed gain over 3x the seed's spread in 81% of campaign seeds without these priors, 97% with them.
PRIORS: dict[str, float] = {"muon": 3.0, "rope": 2.0, "relu2": 2.0, "qk_norm": 2.0, "warmup_stable_decay": 2.0}
GENERIC_TAGS = ("experiment", "scaling")
PERTURB = "perturb"  # the generic edit's name in reply summaries: "[perturb] NAME old -> new"


def by_name(name: str) -> Edit:
    return next(e for e in CATALOG if e.name == name)


assert set(PRIORS) <= {e.name for e in CATALOG}, "a prior names an edit the catalog does not have"
