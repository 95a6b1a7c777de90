"""The ledger: each state change writes its rows and the campaign's view together; a batch commits whole.

The facts the ledger takes from its view instead of reading rows back (a child's generation and its
parent's fitness, whether an evaluation replaces an interrupted one, a one-seed fitness, whether a
finished candidate has children) must equal what the database would have computed itself.
"""

from __future__ import annotations

import dataclasses

import pytest

from evolve import lineage
from evolve.ledger import Ledger
from evolve.lineage import export_rows
from scoring.result import ScoreResult


@pytest.fixture
def camp(tmp_path):
    db = lineage.open_db(lineage.sqlite_url(tmp_path / "lineage.db"))
    cid = lineage.create_campaign(db, "c", task_name="t", task_path="p", config={}, seed=0, islands=2)
    seed = lineage.add_candidate(db, cid, island=0, files={"model.py": "x = 1\n"}, operator="seed", code_hash="h0")
    yield db, cid, seed
    db.close()


def _rows(db, cid, table):
    return export_rows(db, cid, table)[1]


def _call(**kw):
    return {"model": "m", "prompt_hash": "p", **kw}


def _child(parent, n, **kw):
    return {"island": 0, "files": {"model.py": f"x = {n}\n"}, "operator": "mutate", "persona": "newton",
            "model": "m", "parent_id": parent, "parent2_id": None, "status": "pending", "reason": "",
            "code_hash": f"h{n}", "event_no": n, "summary": f"edit {n}", **kw}


def test_an_evaluation_and_the_verdict_it_leads_to_commit_together_or_not_at_all(camp):
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    with pytest.raises(RuntimeError), ledger.batch():
        ledger.evaluated(seed, ScoreResult("ok", "", 0, best_vloss=2.0))
        ledger.finish(seed, "ok", "")
        raise RuntimeError("killed before the batch committed")
    assert _rows(db, cid, "evaluations") == [] and _rows(db, cid, "candidates")[0]["status"] == "pending"
    again = Ledger(db, cid, 2)  # what a resume sees: nothing of the failed batch
    assert again.pop.evals_done == 0 and again.pop.cands[seed].status == "pending"
    with again.batch():
        again.evaluated(seed, ScoreResult("ok", "", 0, best_vloss=2.0))
        assert again.finish(seed, "ok", "") == 2.0
    assert [r["status"] for r in _rows(db, cid, "evaluations")] == ["ok"]
    assert _rows(db, cid, "candidates")[0]["fitness"] == 2.0


def test_what_the_ledger_takes_from_its_view_equals_what_the_rows_say(camp):
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    ledger.evaluated(seed, ScoreResult("ok", "", 0, best_vloss=2.0))
    ledger.evaluated(seed, ScoreResult("ok", "", 1, best_vloss=2.5))
    assert ledger.finish(seed, "ok", "") == pytest.approx(2.25)  # two seeds: the mean, from the rows
    child = ledger.proposal(_call(), _child(seed, 1))
    grandchild = ledger.proposal(_call(), _child(child.id, 2))
    by_id = {r["id"]: r for r in _rows(db, cid, "candidates")}
    assert (by_id[child.id]["generation"], by_id[grandchild.id]["generation"]) == (1, 2)
    assert by_id[child.id]["parent_fitness"] == pytest.approx(2.25)
    assert by_id[grandchild.id]["parent_fitness"] is None  # its parent has no fitness yet
    # the child is interrupted, then re-run: the re-run replaces the interrupted row
    ledger.evaluated(child.id, ScoreResult("interrupted", "stopped", 0))
    ledger.evaluated(child.id, ScoreResult("ok", "", 0, best_vloss=1.5))
    assert [(r["status"], r["best_vloss"]) for r in _rows(db, cid, "evaluations") if r["candidate_id"] == child.id] \
        == [("ok", 1.5)]
    assert ledger.finish(child.id, "ok", "") == 1.5
    with pytest.raises(ValueError, match="no interrupted evaluation to replace"):  # a finished seed stays as it is
        ledger.evaluated(child.id, ScoreResult("ok", "", 0, best_vloss=1.0))
    # a finished parent's fitness reaches its children's rows (the credit statistics read it there)
    assert {r["id"]: r["parent_fitness"] for r in _rows(db, cid, "candidates")}[grandchild.id] == 1.5
    # and the view rebuilt from the rows is the view the ledger kept
    rebuilt = Ledger(db, cid, 2).pop
    assert rebuilt.cands == ledger.pop.cands and rebuilt.evals == ledger.pop.evals
    assert rebuilt.evals_done == ledger.pop.evals_done == 3


def test_a_duplicate_the_view_missed_is_stored_rejected_naming_the_original(camp):
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    first = ledger.proposal(_call(), _child(seed, 1))
    twin = ledger.proposal(_call(), _child(seed, 2, code_hash="h1"))  # the same hash as `first`
    assert (twin.status, twin.reason) == ("rejected", lineage.duplicate_reason(first.id))
    assert twin.code_hash is None and ledger.pop.hashes["h1"] == first.id
    assert [r["candidate_id"] for r in _rows(db, cid, "llm_calls")] == [first.id, twin.id]


def test_the_view_hands_out_frozen_values(camp):
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2)
    before = ledger.pop.cands[seed]
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.status = "running"  # type: ignore[misc]
    ledger.set_queued(seed, "running")
    assert before.status == "pending" and ledger.pop.cands[seed].status == "running"


def test_the_pareto_view_keeps_each_candidates_cost_across_a_resume(camp):
    """The Pareto objective's cost is the mean training FLOPs of the ok evaluations, kept on the candidate
    row like its fitness: a resumed campaign's view ranks the same points."""
    db, cid, seed = camp
    ledger = Ledger(db, cid, 2, pareto=True)
    ledger.evaluated(seed, ScoreResult("ok", "", 0, best_vloss=2.0, train_flops=4e9))
    ledger.evaluated(seed, ScoreResult("ok", "", 1, best_vloss=2.5, train_flops=6e9))
    ledger.finish(seed, "ok", "")
    child = ledger.proposal(_call(), _child(seed, 1))
    ledger.evaluated(child.id, ScoreResult("ok", "", 0, best_vloss=2.4, train_flops=1e9))
    ledger.finish(child.id, "ok", "")
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
    ledger.evaluated(seed, ScoreResult("ok", "", 0, best_vloss=2.0))
    ledger.evaluated(seed, ScoreResult("ok", "", 1, best_vloss=2.1))  # the seed's noise: 0.1
    ledger.finish(seed, "ok", "")  # fitness 2.05
    big = ledger.proposal(_call(), _child(seed, 1, chosen_after=2))
    small = ledger.proposal(_call(), _child(seed, 2, chosen_after=2))
    for c, loss in ((big, 1.8), (small, 2.0)):
        ledger.set_queued(c.id, "running")
        ledger.evaluated(c.id, ScoreResult("ok", "", 0, best_vloss=loss))
        ledger.set_queued(c.id, "pending")
        ledger.confirm(c.id, {"seeds": [1]})
    assert ledger.pop.cands[big.id].staleness == 0 and ledger.pop.cands[small.id].staleness == 1
    ledger.set_queued(big.id, "running")  # its confirmation: the staleness stays the first start's
    assert ledger.pop.cands[big.id].staleness == 0
    ind = {i.id: i for i in ledger.pop.individuals(0)}
    assert ind[big.id].fitness == 1.8 and ind[big.id].provisional
    assert ind[small.id].fitness is None  # 0.05 better than its parent: within the seed's noise
    rebuilt = Ledger(db, cid, 2).pop
    assert rebuilt.cands == ledger.pop.cands
    assert rebuilt.individuals(0) == ledger.pop.individuals(0)
    assert {r["id"]: r["staleness"] for r in _rows(db, cid, "candidates")} == {seed: None, big.id: 0, small.id: 1}
    ledger.evaluated(big.id, ScoreResult("ok", "", 1, best_vloss=1.9))
    ledger.finish(big.id, "ok", "")  # confirmed: its fitness is the mean, and no longer provisional
    ind = {i.id: i for i in ledger.pop.individuals(0)}
    assert ind[big.id].fitness == pytest.approx(1.85) and not ind[big.id].provisional
