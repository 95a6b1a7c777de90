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
from evolve.lineage.queries import left_undone, resume_hint, unfinished
from evolve.outcome import Outcome

Losses = dict[int, list[tuple[float, float | None]]]  # candidate -> (val loss, test loss) per ok evaluation


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _test_loss(losses: Losses, candidate: int) -> float | None:
    return _mean([t for _, t in losses[candidate] if t is not None])


def summarize(db: lineage.Database, campaign_id: int, name: str, folder: Path, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {"campaign": name, "status": outcome.status, "cause": outcome.cause.value,
                              "reason": outcome.reason, "evaluations": outcome.evals_done,
                              "llm_calls": outcome.llm_calls, "folder": str(folder), "best_dir": outcome.best_dir,
                              "imported_evaluations": outcome.imported_evals}
    losses = lineage.ok_losses(db, [i for i in (outcome.best_id, outcome.seed_id) if i is not None])
    if outcome.best_id is not None:
        result.update(_best(db, campaign_id, outcome, losses))
    if outcome.seed_id is not None:
        result["seed"] = _seed(outcome, losses)
    if "best" in result and "seed" in result and outcome.seed_fitness is not None:
        result["improvement"] = _improvement(outcome, result["seed"]["test_loss"], result["best"]["test_loss"])
    result.update(_left_undone(db, campaign_id, name, outcome))
    result["next"] = _next_commands(name, outcome.best_id)
    return result


def _best(db: lineage.Database, campaign_id: int, outcome: Outcome, losses: Losses) -> dict[str, Any]:
    """The best candidate and its lineage."""
    best_id = outcome.best_id
    # oldest first: a crossover's second parent sits before the child, beside the first parent's line
    chain = sorted(lineage.ancestry(db, campaign_id, best_id), key=lambda r: (r.generation, r.id))
    best = next(r for r in chain if r.id == best_id)
    return {
        "best": {"id": best_id, "val_loss": outcome.best_fitness, "test_loss": _test_loss(losses, best_id),
                 "seeds": len(losses[best_id]), "persona": best.persona, "operator": best.operator},
        "lineage": [{"id": r.id, "operator": r.operator, "persona": r.persona, "fitness": r.fitness,
                     "parent": r.parent_id, "parent2": r.parent2_id} for r in chain],
    }


def _seed(outcome: Outcome, losses: Losses) -> dict[str, Any]:
    """The seed's losses and their spread: the noise an improvement has to beat."""
    vals = [v for v, _ in losses[outcome.seed_id]]
    return {"id": outcome.seed_id, "val_loss": outcome.seed_fitness, "test_loss": _test_loss(losses, outcome.seed_id),
            "val_losses": vals, "spread": (max(vals) - min(vals)) if len(vals) > 1 else None}


def _improvement(outcome: Outcome, seed_test: float | None, best_test: float | None) -> dict[str, float | None]:
    return {
        "val_loss": outcome.seed_fitness - outcome.best_fitness,
        "test_loss": seed_test - best_test if seed_test is not None and best_test is not None else None,
    }


def _left_undone(db: lineage.Database, campaign_id: int, name: str, outcome: Outcome) -> dict[str, Any]:
    # Left undone: nothing trains them until the campaign is resumed, so they are not "pending" any more
    left = unfinished(db, campaign_id)
    return {
        "unfinished": [{"id": u.id, "state": u.state, "seeds_evaluated": len(u.val_losses), "seeds": u.seeds,
                        "val_losses": list(u.val_losses)} for u in left],
        "left_undone": left_undone(left),
        "finish_with": resume_hint(name, outcome.status, outcome.reason) if left else None,
    }


def _next_commands(name: str, best_id: int | None) -> list[str]:
    if best_id is not None:
        return [f"evolve top {name}", f"evolve lineage {name} {best_id}", f"evolve checkout {name} best DIR",
                f"evolve show {name} {best_id} --diff", f"evolve personas {name}",
                f"evolve resume {name} --max-evals N"]
    # nothing scored: what went wrong is in the rejected and failed candidates and the LLM calls
    return [f"evolve status {name}", f"evolve report {name}",
            f"evolve sql {name} \"select id, status, reason from candidates order by id desc limit 20\""]
