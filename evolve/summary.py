"""What a finished campaign found: the best candidate against the seed (val and test), its lineage, what
it left undone, and where to look next. `evolve launch` and `evolve resume` print it; `--json` prints it as
it is.

Read from the database in a few queries (the two candidates' ok evaluations, the best's ancestry, the
candidates still pending); no candidate's files are loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evolve import lineage
from evolve.campaign import Outcome
from evolve.lineage.queries import left_undone, resume_hint, unfinished


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(db: lineage.Database, campaign_id: int, name: str, folder: Path, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {"campaign": name, "status": outcome.status, "cause": outcome.cause.value,
                              "reason": outcome.reason, "evaluations": outcome.evals_done,
                              "llm_calls": outcome.llm_calls, "folder": str(folder), "best_dir": outcome.best_dir,
                              "imported_evaluations": outcome.imported_evals}
    ids = [i for i in (outcome.best_id, outcome.seed_id) if i is not None]
    losses = lineage.ok_losses(db, ids)

    def test_loss(candidate: int) -> float | None:
        return _mean([t for _, t in losses[candidate] if t is not None])

    if outcome.best_id is not None:
        # oldest first: a crossover's second parent sits before the child, beside the first parent's line
        chain = sorted(lineage.ancestry(db, campaign_id, outcome.best_id), key=lambda r: (r.generation, r.id))
        best = next(r for r in chain if r.id == outcome.best_id)
        result["best"] = {"id": outcome.best_id, "val_loss": outcome.best_fitness,
                          "test_loss": test_loss(outcome.best_id), "seeds": len(losses[outcome.best_id]),
                          "persona": best.persona, "operator": best.operator}
        result["lineage"] = [{"id": r.id, "operator": r.operator, "persona": r.persona, "fitness": r.fitness,
                              "parent": r.parent_id, "parent2": r.parent2_id} for r in chain]
    if outcome.seed_id is not None:
        vals = [v for v, _ in losses[outcome.seed_id]]
        result["seed"] = {"id": outcome.seed_id, "val_loss": outcome.seed_fitness,
                          "test_loss": test_loss(outcome.seed_id), "val_losses": vals,
                          "spread": (max(vals) - min(vals)) if len(vals) > 1 else None}
    if "best" in result and "seed" in result and outcome.seed_fitness is not None:
        seed_test, best_test = result["seed"]["test_loss"], result["best"]["test_loss"]
        result["improvement"] = {
            "val_loss": outcome.seed_fitness - outcome.best_fitness,
            "test_loss": seed_test - best_test if seed_test is not None and best_test is not None else None,
        }
    # Left undone: nothing trains them until the campaign is resumed, so they are not "pending" any more
    left = unfinished(db, campaign_id)
    result["unfinished"] = [{"id": u.id, "state": u.state, "seeds_evaluated": len(u.val_losses), "seeds": u.seeds,
                             "val_losses": list(u.val_losses)} for u in left]
    result["left_undone"] = left_undone(left)
    result["finish_with"] = resume_hint(name, outcome.status, outcome.reason) if left else None
    if outcome.best_id is not None:
        result["next"] = [f"evolve top {name}", f"evolve lineage {name} {outcome.best_id}",
                          f"evolve checkout {name} best DIR",
                          f"evolve show {name} {outcome.best_id} --diff", f"evolve personas {name}",
                          f"evolve resume {name} --max-evals N"]
    else:  # nothing scored: what went wrong is in the rejected and failed candidates and the LLM calls
        result["next"] = [f"evolve status {name}", f"evolve report {name}",
                          f"evolve sql {name} \"select id, status, reason from candidates order by id desc limit 20\""]
    return result
