"""The ledger: each state change writes its rows and the campaign's view together; a batch commits whole.

The facts the ledger takes from its view instead of reading rows back (a child's generation and its
parent's fitness, whether an evaluation replaces an interrupted one, a one-seed fitness, whether a
finished candidate has children) must equal what the database would have computed itself.
"""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy.exc

from evolve import lineage
from evolve.executors import Job
from evolve.ledger import Confirm, FailedCall, Finish, Ledger, Migrate, Propose, Record, Requeue, Start
from evolve.lineage import export_rows
from evolve.lineage.facts import Call
from scoring.result import ScoreResult


@pytest.fixture
def camp(tmp_path):
    db = lineage.open_db(lineage.sqlite_url(tmp_path / "lineage.db"))
    cid = lineage.create_campaign(db, "c", task_name="t", task_path="p", config={}, seed=0, islands=2)
    seed = lineage.add_candidate(db, cid, island=0, files={"model.py": "x = 1\n"}, operator="seed", code_hash="h0")
    yield db, cid, seed
    db.close()


_JOB = Job(0, 0, {}, "")  # what a Start hands the loop to submit; the ledger writes only its candidate


def _rows(db, cid, table):
    return export_rows(db, cid, table)[1]


def _call(**kw):
    return Call("m", "p", **kw)


def _child(ledger, parent, n, **kw):
    return ledger.new_candidate(**{
        "island": 0, "files": {"model.py": f"x = {n}\n"}, "operator": "mutate", "persona": "newton",
        "model": "m", "parent_id": parent, "parent2_id": None, "status": "pending", "reason": "",
        "code_hash": f"h{n}", "event_no": n, "summary": f"edit {n}", **kw})


def test_an_evaluation_and_the_verdict_it_leads_to_commit_together_or_not_at_all(camp):
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    with pytest.raises(RuntimeError), ledger.batch():
        ledger.write(Record(seed, ScoreResult("ok", "", 0, best_vloss=2.0)))
        ledger.write(Finish(seed, "ok", ""))
        raise RuntimeError("killed before the batch committed")
    assert _rows(db, cid, "evaluations") == [] and _rows(db, cid, "candidates")[0]["status"] == "pending"
    again = Ledger(db, cid, 2)  # what a resume sees: nothing of the failed batch
    assert again.pop.evals_done == 0 and again.pop.cands[seed].status == "pending"
    with again.batch():
        again.write(Record(seed, ScoreResult("ok", "", 0, best_vloss=2.0)))
        assert again.write(Finish(seed, "ok", "")) == 2.0
    assert [r["status"] for r in _rows(db, cid, "evaluations")] == ["ok"]
    assert _rows(db, cid, "candidates")[0]["fitness"] == 2.0


def test_what_the_ledger_takes_from_its_view_equals_what_the_rows_say(camp):
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    ledger.write(Record(seed, ScoreResult("ok", "", 0, best_vloss=2.0)))
    ledger.write(Record(seed, ScoreResult("ok", "", 1, best_vloss=2.5)))
    assert ledger.write(Finish(seed, "ok", "")) == pytest.approx(2.25)  # two seeds: the mean, from the rows
    child = ledger.write(Propose(_call(), _child(ledger, seed, 1)))
    grandchild = ledger.write(Propose(_call(), _child(ledger, child.id, 2)))
    by_id = {r["id"]: r for r in _rows(db, cid, "candidates")}
    assert (by_id[child.id]["generation"], by_id[grandchild.id]["generation"]) == (1, 2)
    assert by_id[child.id]["parent_fitness"] == pytest.approx(2.25)
    assert by_id[grandchild.id]["parent_fitness"] is None  # its parent has no fitness yet
    # the child is interrupted, then re-run: the re-run replaces the interrupted row
    ledger.write(Record(child.id, ScoreResult("interrupted", "stopped", 0)))
    ledger.write(Record(child.id, ScoreResult("ok", "", 0, best_vloss=1.5)))
    assert [(r["status"], r["best_vloss"]) for r in _rows(db, cid, "evaluations") if r["candidate_id"] == child.id] \
        == [("ok", 1.5)]
    assert ledger.write(Finish(child.id, "ok", "")) == 1.5
    with pytest.raises(ValueError, match="no interrupted evaluation to replace"):  # a finished seed stays as it is
        ledger.write(Record(child.id, ScoreResult("ok", "", 0, best_vloss=1.0)))
    # a finished parent's fitness reaches its children's rows (the credit statistics read it there)
    assert {r["id"]: r["parent_fitness"] for r in _rows(db, cid, "candidates")}[grandchild.id] == 1.5
    # and the view rebuilt from the rows is the view the ledger kept
    rebuilt = Ledger(db, cid, 2).pop
    assert rebuilt.cands == ledger.pop.cands and rebuilt.evals == ledger.pop.evals
    assert rebuilt.evals_done == ledger.pop.evals_done == 3


def test_duplicates_are_the_views_to_decide_and_a_write_that_skips_it_fails_whole(camp):
    """The view decides duplicates (evolve/proposals.py); the unique hash is only a backstop: a candidate
    that reaches it writes nothing, neither itself nor its call, and the view is unchanged."""
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    first = ledger.write(Propose(_call(cost_usd=0.5), _child(ledger, seed, 1)))
    assert ledger.pop.hashes["h1"] == first.id
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        ledger.write(Propose(_call(cost_usd=0.5), _child(ledger, seed, 2, code_hash="h1")))
    assert [r["id"] for r in _rows(db, cid, "candidates")] == [seed, first.id]
    assert [(r["candidate_id"], r["persona"], r["operator"], r["cost_usd"]) for r in _rows(db, cid, "llm_calls")] \
        == [(first.id, "newton", "mutate", 0.5)]
    assert sorted(ledger.pop.cands) == [seed, first.id] and ledger.pop.llm_calls == 1


def test_the_view_hands_out_frozen_values(camp):
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    before = ledger.pop.cands[seed]
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.status = "running"  # type: ignore[misc]
    ledger.write(Start(seed, 0, _JOB))
    assert before.status == "pending" and ledger.pop.cands[seed].status == "running"


def test_the_pareto_view_keeps_each_candidates_cost_across_a_resume(camp):
    """The Pareto objective's cost is the mean training FLOPs of the ok evaluations, kept on the candidate
    row like its fitness: a resumed campaign's view ranks the same points."""
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2, pareto=True)
    ledger.write(Record(seed, ScoreResult("ok", "", 0, best_vloss=2.0, train_flops=4e9)))
    ledger.write(Record(seed, ScoreResult("ok", "", 1, best_vloss=2.5, train_flops=6e9)))
    ledger.write(Finish(seed, "ok", ""))
    child = ledger.write(Propose(_call(), _child(ledger, seed, 1)))
    ledger.write(Record(child.id, ScoreResult("ok", "", 0, best_vloss=2.4, train_flops=1e9)))
    ledger.write(Finish(child.id, "ok", ""))
    assert ledger.pop.cands[seed].train_flops == pytest.approx(5e9) and ledger.pop.cands[child.id].train_flops == 1e9
    assert {r["id"]: r["train_flops"] for r in _rows(db, cid, "candidates")} == {seed: pytest.approx(5e9),
                                                                                child.id: 1e9}
    rebuilt = Ledger(db, cid, 2, pareto=True).pop
    assert rebuilt.cands == ledger.pop.cands and rebuilt.pareto
    points = sorted(i.point for i in rebuilt.individuals(0))
    assert points == sorted(i.point for i in ledger.pop.individuals(0)) == [(2.25, 5e9), (2.4, 1e9)]
    assert rebuilt.persona_record() == ledger.pop.persona_record() == {"newton": (1, 0)}  # cheaper, not better


def test_a_provisional_parent_and_each_staleness_are_the_same_live_and_rebuilt(camp):
    """A child whose first result beats its parent by more than the seed's spread is a provisional parent
    while its confirmation runs; one within the spread is not. Staleness is fixed at the first start."""
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    ledger.write(Record(seed, ScoreResult("ok", "", 0, best_vloss=2.0)))
    ledger.write(Record(seed, ScoreResult("ok", "", 1, best_vloss=2.1)))  # the seed's noise: 0.1
    ledger.write(Finish(seed, "ok", ""))  # fitness 2.05
    big = ledger.write(Propose(_call(), _child(ledger, seed, 1, chosen_after=2)))
    small = ledger.write(Propose(_call(), _child(ledger, seed, 2, chosen_after=2)))
    for c, loss in ((big, 1.8), (small, 2.0)):
        ledger.write(Start(c.id, 0, _JOB))
        ledger.write(Record(c.id, ScoreResult("ok", "", 0, best_vloss=loss)))
        ledger.write(Requeue(c.id))
        ledger.write(Confirm(c.id, {"seeds": [1]}))
    assert ledger.pop.cands[big.id].staleness == 0 and ledger.pop.cands[small.id].staleness == 1
    ledger.write(Start(big.id, 0, _JOB))  # its confirmation: the staleness stays the first start's
    assert ledger.pop.cands[big.id].staleness == 0
    ind = {i.id: i for i in ledger.pop.individuals(0)}
    assert ind[big.id].fitness == 1.8 and ind[big.id].provisional
    assert ind[small.id].fitness is None  # 0.05 better than its parent: within the seed's noise
    rebuilt = Ledger(db, cid, 2).pop
    assert rebuilt.cands == ledger.pop.cands
    assert rebuilt.individuals(0) == ledger.pop.individuals(0)
    assert {r["id"]: r["staleness"] for r in _rows(db, cid, "candidates")} == {seed: None, big.id: 0, small.id: 1}
    ledger.write(Record(big.id, ScoreResult("ok", "", 1, best_vloss=1.9)))
    ledger.write(Finish(big.id, "ok", ""))  # confirmed: its fitness is the mean, and no longer provisional
    ind = {i.id: i for i in ledger.pop.individuals(0)}
    assert ind[big.id].fitness == pytest.approx(1.85) and not ind[big.id].provisional


def _view(pop) -> dict:
    """Everything a decision can read from a view."""
    return {"cands": pop.cands, "evals": {k: v for k, v in pop.evals.items() if v},
            "members": {k: v for k, v in pop.members.items() if v}, "hashes": pop.hashes,
            "kids": {k: v for k, v in pop.kids.items() if v}, "migrations": +pop.migrations_done,
            "cost": round(pop.cost_usd, 9), "calls": pop.llm_calls, "evals_done": pop.evals_done,
            "seeds": pop.seed_ids, "confirming": pop.confirming, "open": pop.open_ids,
            "individuals": [pop.individuals(i) for i in range(pop.islands)],
            "credit": pop.persona_record(), "finished": [pop.finished_on(i) for i in range(pop.islands)],
            "best": [pop.best(i) for i in (None, *range(pop.islands))], "noise": pop.noise()}


def _step(rng, ledger: Ledger, seed_id: int, n: int) -> None:
    """One random state change of the kinds a campaign makes."""
    pop = ledger.pop
    open_ids = sorted(pop.open_ids)
    r = rng.random()
    if r < 0.3 or not open_ids:
        parent = rng.choice(sorted(pop.cands))
        status = rng.choice(["pending", "pending", "pending", "rejected"])
        queued = status == "pending"
        ledger.write(Propose(_call(cost_usd=rng.choice([0.0, 0.25])), _child(
            ledger, parent, n, island=rng.randrange(2), status=status, code_hash=f"h{n}" if queued else None,
            reason="" if queued else "no_op: nothing changed", chosen_after=pop.evals_done)))
    elif r < 0.35:
        ledger.write(FailedCall(_call(error="timeout"), "curie", "mutate"))
    elif r < 0.75:
        c = rng.choice(open_ids)
        ledger.write(Start(c, 0, _JOB))
        done = pop.evals_of(c)
        seed = next((s for s in range(3) if s not in done or done[s].status == "interrupted"), None)
        if seed is None:
            return
        status = rng.choice(["ok", "ok", "ok", "crashed", "interrupted"])
        ledger.write(Record(c, ScoreResult(status, "" if status == "ok" else "boom", seed,
                                           best_vloss=rng.uniform(1.0, 3.0) if status == "ok" else None,
                                           log_tail="x" * rng.choice([10, 5000]),
                                           train_flops=rng.choice([None, 1e9]))))
        if rng.random() < 0.3 and c not in pop.confirming:
            ledger.write(Confirm(c, {"seeds": [1, 2]}))
        ledger.write(Requeue(c))
    elif r < 0.9:
        c = rng.choice(open_ids)
        ok = any(e.status == "ok" for e in pop.evals_of(c).values())
        ledger.write(Finish(c, "ok" if ok and rng.random() < 0.8 else "crashed", ""))
    else:
        source = rng.randrange(2)
        ids = [i for i in pop.members[source] if pop.cands[i].status == "ok"][:2]
        if ids:
            ledger.write(Migrate(source, 1 - source, tuple(ids)))


@pytest.mark.parametrize("trial", range(12))
def test_any_sequence_of_changes_gives_the_same_view_live_and_rebuilt_from_the_rows(camp, trial):
    """Proposals (queued and rejected), failed calls, starts, evaluations (ok, failed, interrupted and re-run),
    confirmations, finishes and migrations in a random order, with kills (a batch that dies half-written, after
    which the campaign resumes from the rows): the view the ledger keeps always equals the one rebuilt from
    the rows, since both are `Population.apply` over the same facts."""
    import random

    db, cid, seed = camp
    rng = random.Random(trial)
    ledger = Ledger(db, cid, 2)
    for n in range(1, 60):
        if rng.random() < 0.1:  # a kill in the middle of a batch: nothing of it is written, the view is rebuilt
            with pytest.raises(RuntimeError), ledger.batch():
                _step(rng, ledger, seed, n)
                raise RuntimeError("killed")
            ledger = Ledger(db, cid, 2)
        else:
            _step(rng, ledger, seed, n)
        assert _view(ledger.pop) == _view(Ledger(db, cid, 2).pop), f"after step {n}"


def test_each_lineage_fact_has_one_rule_the_campaign_and_the_tools_share(camp, tmp_path):
    """Fitness (the mean of the ok losses), training cost, generation and the first parent's fitness are
    decided by evolve/lineage/facts.py alone: the ledger (from its view) and record.py (from rows) agree."""
    from evolve.lineage import facts

    db, cid, seed = camp
    results = [ScoreResult("ok", "", 0, best_vloss=2.0, train_flops=1e9), ScoreResult("ok", "", 1, best_vloss=2.3),
               ScoreResult("ok", "", 2, best_vloss=2.9, train_flops=3e9)]
    ledger = Ledger(db, cid, 2)
    for r in results:
        ledger.write(Record(seed, r))
    assert ledger.write(Finish(seed, "ok", "")) == pytest.approx(2.4) == facts.fitness(results)
    assert ledger.pop.cands[seed].train_flops == pytest.approx(2e9) == facts.mean_flops(results)
    # the same evaluations through the tools' path, in another campaign
    other = lineage.create_campaign(db, "d", task_name="t", task_path="p", config={}, seed=0, islands=1)
    twin = lineage.add_candidate(db, other, island=0, files={"model.py": "x = 1\n"}, operator="seed")
    for r in results:
        with lineage.transaction(db) as tx:
            tx.evaluation(twin, r)
    assert lineage.finish_candidate(db, twin, "ok") == ledger.pop.cands[seed].fitness
    flops = {r["id"]: r["train_flops"] for r in _rows(db, other, "candidates")}
    assert flops[twin] == ledger.pop.cands[seed].train_flops
    # a grandchild's generation and parent fitness, both ways
    child = ledger.write(Propose(_call(), _child(ledger, seed, 1)))
    grandchild = ledger.write(Propose(_call(), _child(ledger, child.id, 2)))
    tool_child = lineage.add_candidate(db, other, island=0, files={"model.py": "x = 2\n"}, operator="mutate",
                                       parent_id=twin)
    tool_grandchild = lineage.add_candidate(db, other, island=0, files={"model.py": "x = 3\n"}, operator="mutate",
                                            parent_id=tool_child)
    rows = {r["id"]: r for r in _rows(db, cid, "candidates") + _rows(db, other, "candidates")}
    for ours, tools in ((child.id, tool_child), (grandchild.id, tool_grandchild)):
        assert (rows[ours]["generation"], rows[ours]["parent_fitness"]) == \
            (rows[tools]["generation"], rows[tools]["parent_fitness"])
    assert (rows[child.id]["generation"], rows[child.id]["parent_fitness"]) == (1, pytest.approx(2.4))


def test_the_evaluations_decide_and_only_the_loop_writes(camp, tmp_path):
    """Evaluations hand back decisions, each decided from the view the previous write left: a child's result
    is recorded, finishes it, and completes its island's migration round, in that order. Until the loop
    writes a decision, neither the rows nor the view have changed (a write inside the Evaluations would)."""
    from evolve.evaluations import Evaluations
    from tests.campaign.conftest import settings

    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    cfg = settings(evaluation={"smoke": True, "confirm_seeds": 0}, migration={"interval": 1})
    evals = Evaluations(ledger=ledger, config=cfg, slots=1, folder=tmp_path, note=lambda line: None)
    first = cfg.evaluation.seed
    ledger.write(Record(seed, ScoreResult("ok", "", first, best_vloss=2.0)))
    ledger.write(Finish(seed, "ok", ""))
    child = ledger.write(Propose(_call(), _child(ledger, seed, 1)))

    def state():
        return [_rows(db, cid, t) for t in ("candidates", "evaluations", "events", "memberships")], _view(ledger.pop)

    decided = []
    for step in (lambda: evals.start(10),
                 lambda: evals.finished(0, ScoreResult("ok", "", first, best_vloss=1.5))):
        decisions = step()
        while True:
            before = state()
            d = next(decisions, None)
            if d is None:
                break
            assert state() == before, f"deciding {d} changed the state"
            decided.append(d)
            ledger.write(d)
            assert state() != before
    assert [type(d) for d in decided] == [Start, Record, Finish, Migrate]
    assert decided[0].candidate == child.id and decided[-1] == Migrate(0, 1, (child.id,))
    assert ledger.pop.cands[child.id].fitness == 1.5 and child.id in ledger.pop.members[1]
