"""The end-of-run summary: the best candidate's lineage reads oldest first, a crossover after both parents."""

from __future__ import annotations

from evolve import lineage as L
from evolve.campaign import Outcome, Stop
from evolve.summary import summarize
from scoring.result import ScoreResult

FILES = {"model.py": "x = 1\n"}


def test_the_summary_lineage_is_oldest_first(tmp_path):
    db = L.open_db(L.sqlite_url(tmp_path / "lineage.db"))
    cid = L.create_campaign(db, "c", task_name="t", task_path="/t", config={}, seed=0, islands=1)
    seed = L.add_candidate(db, cid, island=0, files=FILES, operator="seed")
    child = L.add_candidate(db, cid, island=0, files=FILES, operator="mutate", parent_id=seed, persona="newton")
    cross = L.add_candidate(db, cid, island=0, files=FILES, operator="crossover", parent_id=child, parent2_id=seed,
                            persona="euler")
    for c, loss in ((seed, 2.3), (child, 2.0), (cross, 1.9)):
        with L.transaction(db) as tx:
            tx.evaluation(c, ScoreResult("ok", "", 1337, best_vloss=loss, test_loss=loss))
        L.finish_candidate(db, c, "ok")
    s = summarize(db, cid, "c", tmp_path, Outcome("finished", Stop.BUDGET, "", 3, cross, 1.9, seed, 2.3))
    assert [r["id"] for r in s["lineage"]] == [seed, child, cross]
    assert round(s["improvement"]["val_loss"], 6) == 0.4
    db.close()


def test_a_campaign_without_a_best_candidate_names_no_none_in_its_hints(tmp_path):
    db = L.open_db(L.sqlite_url(tmp_path / "lineage.db"))
    cid = L.create_campaign(db, "c", task_name="t", task_path="/t", config={}, seed=0, islands=1)
    seed = L.add_candidate(db, cid, island=0, files=FILES, operator="seed")
    with L.transaction(db) as tx:
        tx.evaluation(seed, ScoreResult("crashed", "ImportError", 1337))
    L.finish_candidate(db, seed, "crashed", "ImportError")
    s = summarize(db, cid, "c", tmp_path, Outcome("failed", Stop.SEED_FAILED, "the seed program failed", 1, None,
                                                 None, seed, None))
    assert "best" not in s and s["next"] and not any("None" in hint for hint in s["next"])
    assert "evolve status c" in s["next"]
    db.close()
