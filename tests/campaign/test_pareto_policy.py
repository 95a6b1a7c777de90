"""The Pareto objective in the search policy: parent selection and migration by non-domination rank and
crowding over (validation loss, training FLOPs), confirmation for candidates that would join the front,
and persona credit for children that dominate their parent. Seeded draws, as in test_search_policy."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from evolve.config import Selection
from evolve.islands import Individual, enters_front, migrants, select_parent
from evolve.lineage import Candidate
from evolve.lineage.facts import Joined
from evolve.population import Population
from scoring.errors import InputError
from scoring.task import load_task

N = 12_000
# A and B are the front (A lower loss, B far cheaper); C is dominated by A, D by everyone.
A, B, C, D = Individual(1, 2.0, cost=100.0), Individual(2, 2.6, cost=1.0), Individual(3, 2.4, cost=200.0), \
    Individual(4, 3.0, cost=300.0)
POOL = [D, B, C, A]
TOURNAMENT = Selection(method="tournament", tournament_size=2, elite=0.0)  # the tournaments compared alone

def born(pop: Population, c: Candidate) -> None:
    """A new candidate and its birth membership, as the ledger applies them."""
    pop.apply(c)
    pop.apply(Joined(c.id, c.island))


def finish(pop: Population, cid: int, status: str, reason: str, fitness: float | None,
           train_flops: float | None = None) -> None:
    pop.apply(replace(pop.cands[cid], status=status, reason=reason, fitness=fitness, train_flops=train_flops))



def _shares(pareto: bool) -> dict[int, float]:
    rng = random.Random(5)
    counts = Counter(select_parent(rng, POOL, TOURNAMENT, pareto=pareto).id for _ in range(N))
    return {k: v / N for k, v in counts.items()}


def test_a_tournament_by_rank_gives_the_cheap_front_member_the_wins_the_loss_alone_denies_it():
    # six pairs, equally likely. By loss: A wins 3, C 2 (over B and D), B 1 (over D).
    # By rank: A and B (both front, both at infinite crowding) tie and A's lower loss orders first:
    # A wins 3, B 2 (over C and D), C 1 (over D). D, dominated by all, never wins either way.
    single, front = _shares(False), _shares(True)
    for got, want in ((single, {1: 3 / 6, 3: 2 / 6, 2: 1 / 6}), (front, {1: 3 / 6, 2: 2 / 6, 3: 1 / 6})):
        assert set(got) == set(want)
        for k, share in want.items():
            assert abs(got[k] - share) < 0.02, (k, got)


def test_migrants_are_the_front_first_and_an_unmeasured_cost_is_the_worst():
    assert migrants(POOL, 2) == [1, 3]
    assert migrants(POOL, 2, pareto=True) == [1, 2]
    unmeasured = Individual(5, 1.9)  # the lowest loss, but no FLOP count: on the front only by its loss
    assert migrants([*POOL, unmeasured], 3, pareto=True)[:1] == [5]
    assert enters_front(2.5, 0.5, POOL) and enters_front(1.5, 1e6, POOL)
    assert not enters_front(2.7, 2.0, POOL) and not enters_front(2.0, None, POOL)


@pytest.mark.parametrize("pareto, improved", [(False, 1), (True, 0)])
def test_credit_goes_to_a_child_that_dominates_its_parent_in_pareto_mode(pareto, improved):
    pop = Population(1, pareto)
    born(pop, Candidate(1, 0, None, None, "seed", None, "running"))
    finish(pop, 1, "ok", "", 2.0, 100.0)
    born(pop, Candidate(2, 0, 1, None, "mutate", "newton", "running"))
    finish(pop, 2, "ok", "", 1.9, 150.0)  # a lower loss, but at a higher cost
    assert pop.persona_record()["newton"] == (1, improved)
    born(pop, Candidate(3, 0, 1, None, "mutate", "curie", "running"))
    finish(pop, 3, "ok", "", 1.95, 90.0)  # better on both: an improvement either way
    assert pop.persona_record()["curie"] == (1, 1)


TASK = Path(__file__).resolve().parents[2] / "seeds" / "tasks" / "nanogpt_shakespeare"


def _task_with(tmp_path: Path, objective: str | None, evaluation: str = "") -> Path:
    folder = tmp_path / "task"
    shutil.copytree(TASK, folder)
    manifest = folder / "task.toml"
    text = manifest.read_text()
    if objective is not None:
        text = text.replace('objective = "minimize best_vloss"', f'objective = "{objective}"')
    manifest.write_text(text.replace("[evaluation]\n", f"[evaluation]\n{evaluation}"))
    return folder


def test_the_objective_and_its_caps_are_read_from_task_toml(tmp_path):
    assert load_task(TASK).objective.pareto is False
    t = load_task(_task_with(tmp_path, "pareto best_vloss train_flops", "max_train_flops = 2e12\n"))
    assert (t.objective.pareto, t.objective.max_train_flops, t.objective.max_train_seconds) == (True, 2e12, None)
    shutil.rmtree(tmp_path / "task")
    assert load_task(_task_with(tmp_path, None, "max_train_seconds = 30\n")).objective.max_train_seconds == 30.0
    for objective, evaluation, message in (("maximize fun", "", "'objective' must be one of"),
                                           (None, "max_train_flops = -1\n", "must be positive"),
                                           (None, 'max_train_seconds = "soon"\n', "must be float")):
        shutil.rmtree(tmp_path / "task")
        with pytest.raises(InputError, match=message):
            load_task(_task_with(tmp_path, objective, evaluation))
