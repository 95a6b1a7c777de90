"""A campaign started from another trains children of its own, and a campaign that ends with work left
undone (a candidate half-confirmed, queued children never trained) says so instead of calling it pending."""

from __future__ import annotations

import json

from evolve import lineage
from evolve.cli.campaign import print_summary
from evolve.launch import prepare_launch, run_session
from evolve.summary import summarize
from scoring.result import INTERRUPTED
from tests.campaign.conftest import RiggedExecutor, settings
from tests.helpers import run_cli


def _rows(session, table: str) -> list[dict]:
    return lineage.export_rows(session.db, session.campaign_id, table)[1]


def _launch(name: str, loss, slots: int = 1, **sections):
    session = prepare_launch(settings(**sections), name,
                             executor_factory=lambda t, c: RiggedExecutor(loss, slots=slots))
    return session, run_session(session)


def test_a_campaign_started_from_another_trains_children_within_its_own_budget(in_tmp):
    # the source confirmed on two seeds; the new campaign confirms on three (the default), as `tour2` does
    _launch("src", lambda job: 2.0 - 0.01 * job.candidate_id, budget={"max_evals": 8},
            evaluation={"smoke": True, "confirm_seeds": 1})
    session, outcome = _launch("next", lambda job: 1.8 + 0.001 * job.candidate_id + 0.0001 * job.seed, slots=2,
                               budget={"max_evals": 6}, start={"campaign": "src", "top": 2})
    cands = {c["id"]: c for c in _rows(session, "candidates")}
    finished = [e for e in _rows(session, "evaluations") if e["status"] != INTERRUPTED]
    imported = [e for e in finished if cands[e["candidate_id"]]["operator"] == "seed"]
    children = [e for e in finished if cands[e["candidate_id"]]["operator"] != "seed"]
    # both imported programs measured on this campaign's three seeds, outside the budget ...
    seeds = (1337, 1338, 1339)
    assert sorted((e["candidate_id"], e["seed"]) for e in imported) == [(i, s) for i in (1, 2) for s in seeds]
    # ... and the budget's six evaluations (never more, with two slots) trained new children
    assert len(children) == 6 and outcome.cause.value == "budget" and outcome.llm_calls > 0
    assert (outcome.evals_done, outcome.imported_evals) == (12, 6)
    s = summarize(session.db, session.campaign_id, "next", session.folder, outcome)
    assert (s["evaluations"], s["imported_evaluations"]) == (12, 6)


def test_a_resumed_import_campaign_counts_its_budget_the_same_way(in_tmp):
    from evolve.launch import prepare_resume

    _launch("src", lambda job: 2.0 - 0.01 * job.candidate_id, budget={"max_evals": 8},
            evaluation={"smoke": True, "confirm_seeds": 1})
    session, _ = _launch("next", lambda job: 1.8 + 0.001 * job.candidate_id, budget={"max_evals": 2},
                         start={"campaign": "src", "top": 1})
    before = [e for e in _rows(session, "evaluations") if e["candidate_id"] != 1]
    assert len(before) == 2
    resumed = prepare_resume("next", budget={"max_evals": 4},
                             executor_factory=lambda t, c: RiggedExecutor(lambda job: 1.7 + 0.001 * job.candidate_id))
    run_session(resumed)
    assert len([e for e in _rows(session, "evaluations") if e["candidate_id"] != 1]) == 4


def _half_confirmed(name: str):
    """Seed (three seeds) 2.0, every child 1.9: the first child is promising and gets confirmation seeds,
    and the budget of five ends after the first of them."""
    return _launch(name, lambda job: 2.0 if job.candidate_id == 1 else 1.9, budget={"max_evals": 5},
                   islands={"count": 1})


def test_a_campaign_that_ends_with_work_left_undone_says_so(in_tmp, capsys):
    session, outcome = _half_confirmed("halfway")
    assert outcome.cause.value == "budget" and outcome.status == "finished"
    s = summarize(session.db, session.campaign_id, "halfway", session.folder, outcome)
    first, *rest = s["unfinished"]
    assert first["state"] == "unconfirmed" and (first["seeds_evaluated"], first["seeds"]) == (2, 3)
    assert first["val_losses"] == [1.9, 1.9]
    assert rest and all(u["state"] == "not trained" and u["seeds_evaluated"] == 0 for u in rest)
    assert s["left_undone"].startswith(f"#{first['id']} unconfirmed (2 of 3 seeds evaluated, val loss 1.9000 so far); "
                                       "not trained: #")
    assert s["finish_with"] == "evolve resume halfway --max-evals N"
    print_summary(s)
    text = capsys.readouterr().out
    assert f"left undone when it ended: #{first['id']} unconfirmed" in text
    assert "`evolve resume halfway --max-evals N` trains them" in text

    # `evolve status` on the ended campaign: nothing is pending any more
    status = json.loads(run_cli("status", "halfway", "--json", cwd=in_tmp).stdout)
    assert status["status"] == "finished" and "pending" not in status["by_status"]
    assert status["by_status"]["unconfirmed"] == 1 and status["by_status"]["not trained"] == len(rest)
    assert status["left"] == s["left_undone"] and status["next"].startswith("evolve resume halfway --max-evals N")
    text = run_cli("status", "halfway", cwd=in_tmp).stdout
    assert "unconfirmed 1" in text and "pending" not in text and "evolve resume halfway" in text


def test_a_running_campaign_still_calls_its_queue_pending(in_tmp):
    session, _ = _half_confirmed("queue")
    with lineage.transaction(session.db) as tx:
        tx.campaign_status(session.campaign_id, "running")  # as while its controller runs
    lineage.acquire_lease(session.db, session.campaign_id, lineage.new_owner())  # held by this live process
    s = lineage.status_summary(session.db, session.campaign_id).to_dict()
    assert s["status"] == "running" and s["by_status"]["pending"] >= 2 and "unconfirmed" not in s["by_status"]
    assert s["left"] is None and s["next"] is None


def test_a_stopped_campaign_with_work_left_is_resumed_as_it_is(in_tmp):
    session, outcome = _half_confirmed("paused")
    with lineage.transaction(session.db) as tx:
        tx.campaign_status(session.campaign_id, "stopped")
    s = lineage.status_summary(session.db, session.campaign_id).to_dict()
    assert s["next"] == "evolve resume paused trains what was left undone" and "pending" not in s["by_status"]
