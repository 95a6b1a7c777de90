"""Proposals as late as the slots allow (evolve/pacing.py), each candidate's recorded staleness, improving
children as parents before their confirmation ends, and a stalled LLM call that does not hold the campaign.

The operator is the offline one (instant) or the loopback server through litellm; training is the rigged
executor (tests/campaign/conftest.py) with short fixed-length evaluations, so what is measured is the loop.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta

import sqlalchemy as sa

from evolve import lineage, pacing
from evolve.launch import prepare_launch, run_session
from evolve.lineage.models import Candidate, Evaluation
from evolve.operators.server import LoopbackServer
from scoring.result import OK, ScoreResult
from tests.campaign.conftest import RiggedExecutor, settings
from tests.helpers import run_cli

EVAL_S = 0.5
# The offline operator answers in a few ms: against a 45 s evaluation that is under the 1% below which
# nothing is queued ahead. The rigged evaluations are short (and the machine may be loaded), so these tests
# count any call shorter than an evaluation as instant.
INSTANT = 1.0


def test_the_lead_covers_the_evaluations_that_end_during_one_call():
    assert pacing.lead(None, 10.0, 3) == 3 and pacing.lead(1.0, None, 3) == 3  # unknown: one per slot
    assert pacing.lead(0.01, 45.0, 2) == 0  # an instant operator: nothing queued ahead
    assert pacing.lead(1.0, 1.0, 1) == 2  # L = S: 1.5 evaluations end during a call
    assert pacing.lead(4.0, 1.0, 1) == 6 and pacing.lead(60.0, 45.0, 4) == 8
    # No call has finished yet: the one in flight has waited 3 s, so the latency is at least that ...
    assert pacing.lead(None, 1.0, 1, waited_s=3.0) == 5
    assert pacing.lead(None, 45.0, 2, waited_s=1.0) == 2  # ... and the lead is never below one per slot


def test_a_slow_models_first_calls_raise_the_lead_before_any_of_them_returns(in_tmp):
    """Calls of 2 s against evaluations of 0.25 s, one slot: while the first calls are still out, the time
    they have waited already says that one per slot is not enough, so more proposals start before any reply
    (with one per slot until a call returns, two calls would be out and the slot would then idle for a
    second round of calls)."""
    with LoopbackServer(latency_s=2.0) as server:
        cfg = settings(models=[{"name": "openai/offline", "api_base": server.url}], budget={"max_evals": 10},
                       llm={"concurrency": 5, "retries": 0}, islands={"count": 1},
                       evaluation={"smoke": True, "confirm_seeds": 0})
        session = prepare_launch(cfg, "slow-model", executor_factory=lambda t, c: RiggedExecutor(
            lambda job: 2.0 - 0.01 * job.candidate_id, delay_s=0.25))
        run_session(session)
    calls = lineage.export_rows(session.db, session.campaign_id, "llm_calls")[1]
    first_reply = min(r["created_at"] for r in calls)
    began = [r["created_at"] - timedelta(seconds=r["latency_s"]) for r in calls]
    assert sum(b < first_reply for b in began) >= 4, sorted(began)


def test_a_call_is_stalled_well_past_its_models_usual_latency():
    lat = pacing.Latency()
    assert lat.stall_after("m") == pacing.STALL_UNMEASURED_S and lat.expected({"m": 1.0}) is None
    lat.add("m", 2.0)
    lat.add("m", 2.0)
    assert lat.stall_after("m") == pacing.STALL_FLOOR_S
    for _ in range(30):
        lat.add("m", 20.0)
    assert abs(lat.stall_after("m") - pacing.STALL_FACTOR * 20.0) < 0.1
    lat.add("n", 0.0)
    assert abs(lat.expected({"m": 3.0, "n": 1.0, "unmeasured": 5.0}) - 15.0) < 0.1


class DepthExecutor(RiggedExecutor):
    """Rigged training in which every generation improves on its parent by 0.1 (so every child is an
    improving child; the seed's noise over seeds is 0.001), recording when each job is submitted how many
    evaluations the database holds as finished: the count a candidate's staleness is measured against when
    its first evaluation starts."""

    def __init__(self, db, **kw):
        super().__init__(self._loss, **kw)
        self.db = db  # a callable: the session's database, known once the campaign is prepared
        self.finished_at_submit: dict[tuple[int, int], int] = {}

    def _loss(self, job) -> float:
        with self.db().session() as s:
            generation = s.execute(sa.select(Candidate.generation).where(Candidate.id == job.candidate_id)).scalar_one()
        return 3.0 - 0.1 * generation - 0.001 * (job.seed % 2) - 1e-5 * job.candidate_id  # no two alike

    def _run(self, job):
        """Evaluations of different lengths (0.6 to 1.4 times EVAL_S), so the slots do not free in step."""
        time.sleep(EVAL_S * (0.6 + 0.2 * ((3 * job.candidate_id + job.seed) % 5)))
        v = self._loss(job)
        return ScoreResult(OK, "", job.seed, best_vloss=v, returned_vloss=v, test_loss=v, wall_s=EVAL_S)

    def submit(self, slot, job):
        with self.db().session() as s:
            n = s.execute(sa.select(sa.func.count()).select_from(Evaluation)
                          .where(Evaluation.status != "interrupted")).scalar_one()
        self.finished_at_submit.setdefault((job.candidate_id, job.seed), n)
        return super().submit(slot, job)


def _run(name: str, slots: int, max_evals: int, confirm_seeds: int = 1, elite: float = 0.5):
    cfg = settings(budget={"max_evals": max_evals}, islands={"count": 1}, selection={"elite": elite},
                   evaluation={"smoke": True, "confirm_seeds": confirm_seeds, "workers": slots},
                   operators={"mutate": 1.0, "crossover": 0.0, "repair": 0.0})
    box = {}
    factory = lambda t, c: box.setdefault("ex", DepthExecutor(lambda: box["db"], slots=slots, delay_s=EVAL_S))  # noqa: E731
    session = prepare_launch(cfg, name, executor_factory=factory)
    box["db"] = session.db
    outcome = run_session(session)
    cands = {r["id"]: r for r in lineage.export_rows(session.db, session.campaign_id, "candidates")[1]}
    evals = lineage.export_rows(session.db, session.campaign_id, "evaluations")[1]
    return outcome, cands, evals, box["ex"]


def test_proposals_are_made_when_a_slot_frees_and_staleness_is_what_the_database_counts(in_tmp, monkeypatch):
    monkeypatch.setattr(pacing, "LEAD_FLOOR", INSTANT)
    outcome, cands, evals, ex = _run("fresh", slots=2, max_evals=14, confirm_seeds=0)
    started = [c for c in cands.values() if c["staleness"] is not None]
    assert len(started) >= 8 and all(c["chosen_after"] is not None for c in started)
    for c in started:  # the recorded figure is the count of finished evaluations at its first start, minus
        first = min(s for (cid, s) in ex.finished_at_submit if cid == c["id"])  # that when its parent was chosen
        assert c["staleness"] == ex.finished_at_submit[c["id"], first] - c["chosen_after"], c
    # An instant operator: nothing is proposed ahead of a free slot, so no proposal is older than the other
    # slot's evaluation (the first three were made while the seed trained: one per slot, and one per slot ahead
    # while the latencies are not known yet).
    late = [c["staleness"] for c in started if c["chosen_after"] >= 1]
    assert late and max(late) <= 1
    median = statistics.median(c["staleness"] for c in started)
    assert median <= 1
    shown = run_cli("status", "fresh", "--json", cwd=in_tmp)  # what `evolve status` shows of it
    assert shown.returncode == 0 and json.loads(shown.stdout)["median_staleness"] == median
    assert "median_staleness" in run_cli("status", "fresh", cwd=in_tmp).stdout


def test_the_children_of_an_improving_child_are_proposed_within_one_evaluation_of_its_result(in_tmp, monkeypatch):
    """Every child improves, and selection always takes the island's best (`elite` 1): when a new best's
    first result is in, a slot soon frees and makes its child, often before its confirmation seed has ended."""
    monkeypatch.setattr(pacing, "LEAD_FLOOR", INSTANT)
    outcome, cands, evals, ex = _run("quick", slots=2, max_evals=16, elite=1.0)
    results: dict[int, list] = {}
    for e in sorted(evals, key=lambda e: e["created_at"]):
        results.setdefault(e["candidate_id"], []).append(e["created_at"])
    parents = [c for c in cands.values() if c["operator"] != "seed"
               and any(k["parent_id"] == c["id"] for k in cands.values())]
    assert len(parents) >= 3, "the rigged losses make every child an improvement"
    longest = timedelta(seconds=1.4 * EVAL_S + 0.1)  # the longest rigged evaluation, and a proposal's own time
    waits, before_confirmed = [], 0
    for c in parents:
        kid = min((k for k in cands.values() if k["parent_id"] == c["id"]), key=lambda k: k["created_at"])
        waits.append(kid["created_at"] - results[c["id"]][0])
        before_confirmed += len(results[c["id"]]) < 2 or kid["created_at"] < results[c["id"]][1]
    # The next slot to free makes the child; that slot may first run a sibling's confirmation (confirmations
    # go first), so the bound is one evaluation for most and two for every one.
    assert max(waits) <= 2 * longest and statistics.median(waits) <= longest, waits
    assert before_confirmed >= 2  # chosen on its first result, before its confirmation: a provisional parent
    assert cands[outcome.best_id]["generation"] >= 3  # the improvements stack


def test_a_call_that_stalls_does_not_hold_the_campaign(in_tmp, monkeypatch):
    monkeypatch.setattr(pacing, "STALL_FLOOR_S", 1.0)  # a stall is usually 10 s past a fast model's latency
    with LoopbackServer(stall_at={3}, stall_s=6.0) as server:
        cfg = settings(models=[{"name": "openai/offline", "api_base": server.url}], budget={"max_evals": 6},
                       llm={"concurrency": 1, "retries": 0, "timeout_s": 30},
                       evaluation={"smoke": True, "confirm_seeds": 0})
        session = prepare_launch(cfg, "stalled-one", executor_factory=lambda t, c: RiggedExecutor(
            lambda job: 2.0 + 0.01 * job.candidate_id, delay_s=0.2))
        outcome = run_session(session)
    calls = lineage.export_rows(session.db, session.campaign_id, "llm_calls")[1]
    stalled = [r for r in calls if r["latency_s"] >= 5.0]
    assert len(stalled) == 1 and stalled[0]["error"]  # recorded when it ended: a failed call
    began = stalled[0]["created_at"] - timedelta(seconds=stalled[0]["latency_s"])
    during = [r for r in calls if r["error"] is None and began < r["created_at"] < stalled[0]["created_at"]]
    assert during, "other proposals were made while the call stalled"
    assert outcome.evals_done == 6
