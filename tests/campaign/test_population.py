"""The population mirror's cached reads follow every change: a new candidate, a finish, a migrant."""

from __future__ import annotations

from dataclasses import replace

from evolve.lineage import Candidate
from evolve.lineage.facts import Joined
from evolve.population import Population


def born(pop: Population, c: Candidate, member: bool = True) -> None:
    """A new candidate and (unless it is a rejected one kept off the island here) its birth membership."""
    pop.apply(c)
    if member:
        pop.apply(Joined(c.id, c.island))


def finish(pop: Population, cid: int, status: str, reason: str, fitness: float | None,
           train_flops: float | None = None) -> None:
    pop.apply(replace(pop.cands[cid], status=status, reason=reason, fitness=fitness, train_flops=train_flops))



def _cand(cid: int, island: int, status: str = "pending", fitness: float | None = None, code_hash: str | None = None,
          **kw) -> Candidate:
    return Candidate(cid, island, kw.get("parent"), None, kw.get("operator", "mutate"), kw.get("persona", "newton"),
                     status, "", fitness, code_hash=code_hash)


def test_best_unfinished_and_credit_follow_each_change() -> None:
    pop = Population(islands=2)
    born(pop, _cand(1, 0, "ok", 2.0, "h1", operator="seed", persona=None))
    born(pop, _cand(2, 1, "ok", 2.5, "h2", operator="seed", persona=None))
    assert pop.best().id == 1 and pop.best(1).id == 2
    child = _cand(3, 1, code_hash="h3", parent=2)
    born(pop, child)
    assert [c.id for c in pop.unfinished()] == [3]
    assert pop.persona_record() == {}
    assert pop.finished_on(1) == 0
    finish(pop, child.id, "ok", "", 1.5)
    assert pop.best().id == 3 and pop.best(1).id == 3 and pop.best(0).id == 1
    assert pop.unfinished() == [] and pop.finished_on(1) == 1
    assert pop.persona_record() == {"newton": (1, 1)}
    pop.apply(Joined(3, 0))  # a migrant
    assert pop.best(0).id == 3
    failed = _cand(4, 0, parent=1)
    born(pop, failed)
    finish(pop, failed.id, "crashed", "boom", None)
    assert pop.persona_record() == {"newton": (2, 1)} and [c.id for c in pop.failed(0)] == [4]


def test_running_tallies_equal_a_recount_after_any_sequence_of_changes() -> None:
    # The credit, the finished counts and selection's view are kept up to date change by change; after
    # random adds, joins and finishes (a parent finishing after its children, as when proposals from a
    # starting program begin while it trains) they must equal a recount from the candidates themselves.
    import random

    from evolve.islands import Individual
    from evolve.population import FAILED_FOR_REPAIR

    rng = random.Random(7)
    for trial in range(20):
        pop = Population(islands=3)
        born(pop, _cand(1, 0, "pending", None, "h1", operator="seed", persona=None))
        for i in range(3):
            pop.apply(Joined(1, i))
        for cid in range(2, 80):
            r = rng.random()
            if r < 0.5:
                status = rng.choice(["pending", "pending", "rejected", "constraint_violation"])
                born(pop, _cand(cid, rng.randrange(3), status, code_hash=f"h{cid}", parent=rng.choice(list(pop.cands)),
                                persona=rng.choice(["newton", "curie", "darwin"])), member=status == "pending")
            elif r < 0.6 and len(pop.cands) > 1:
                pop.apply(Joined(rng.choice(list(pop.cands)), rng.randrange(3)))
            elif pop.open_ids:
                c = pop.cands[rng.choice(sorted(pop.open_ids))]
                status = rng.choice(["ok", "ok", "crashed", "timeout"])
                finish(pop, c.id, status, "", rng.uniform(1.0, 3.0) if status == "ok" else None)
        record: dict[str, list[int]] = {}
        for c in pop.cands.values():
            if c.persona is None or c.status in ("pending", "running"):
                continue
            parent = pop.cands.get(c.parent_id)
            n_w = record.setdefault(c.persona, [0, 0])
            n_w[0] += 1
            n_w[1] += bool(c.status == "ok" and parent and parent.fitness is not None and c.fitness < parent.fitness)
        assert pop.persona_record() == {p: tuple(v) for p, v in record.items()}, trial
        for i in range(3):
            assert pop.finished_on(i) == sum(
                1 for c in pop.cands.values() if c.island == i and c.operator != "seed"
                and c.status not in ("pending", "running", "rejected", "constraint_violation")), (trial, i)
            assert pop.individuals(i) == [
                Individual(m, pop.cands[m].fitness if pop.cands[m].status == "ok" else None, len(pop.kids.get(m, ())))
                for m in pop.members[i]], (trial, i)
            assert [c.id for c in pop.failed(i)] == [m for m in pop.members[i]
                                                       if pop.cands[m].status in FAILED_FOR_REPAIR]
