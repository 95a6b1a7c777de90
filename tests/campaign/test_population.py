"""The population mirror's cached reads follow every change: a new candidate, a finish, a migrant."""

from __future__ import annotations

from evolve.population import Cand, Population


def _cand(cid: int, island: int, status: str = "pending", fitness: float | None = None, **kw) -> Cand:
    return Cand(cid, island, kw.get("parent"), None, kw.get("operator", "mutate"), kw.get("persona", "newton"),
                status, "", fitness)


def test_best_unfinished_and_credit_follow_each_change() -> None:
    pop = Population(islands=2)
    pop.add(_cand(1, 0, "ok", 2.0, operator="seed", persona=None), "h1")
    pop.add(_cand(2, 1, "ok", 2.5, operator="seed", persona=None), "h2")
    assert pop.best().id == 1 and pop.best(1).id == 2
    child = _cand(3, 1, parent=2)
    pop.add(child, "h3")
    assert [c.id for c in pop.unfinished()] == [3]
    assert pop.persona_record() == {}
    assert pop.finished_on(1) == 0
    pop.finish(child, "ok", "", 1.5)
    assert pop.best().id == 3 and pop.best(1).id == 3 and pop.best(0).id == 1
    assert pop.unfinished() == [] and pop.finished_on(1) == 1
    assert pop.persona_record() == {"newton": (1, 1)}
    pop.join(0, 3)  # a migrant
    assert pop.best(0).id == 3
    failed = _cand(4, 0, parent=1)
    pop.add(failed, None)
    pop.finish(failed, "crashed", "boom", None)
    assert pop.persona_record() == {"newton": (2, 1)} and [c.id for c in pop.failed(0)] == [4]
