"""Pruning in a campaign: a stand-in executor plays recorded curve shapes through the referee's own rule.

Each child's curve is its first parent's with one of two changes, by candidate id: odd ids fall clearly
behind from step 60 on (worse by 0.3), even ids trail by 0.06 through the middle of the run and end 0.02
better (a late-decaying schedule). The executor applies `scoring.prune.decide` to each job's Rule exactly
as the referee does at each monitoring evaluation, so what is checked here is the campaign's side: which
reference a candidate is held to, that confirmation seeds are never pruned, what a pruned candidate may
still be (never a parent, credited as not improving), and that a resumed campaign uses the same reference.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from evolve import lineage
from evolve.executors import Job
from evolve.launch import prepare_launch, prepare_resume, run_session
from scoring import prune
from scoring.errors import InputError
from scoring.result import OK, PRUNED, ScoreResult
from tests.campaign.conftest import settings

BUDGET = 300
STEPS = tuple(range(0, BUDGET + 1, 30))
SEED_CURVE = (4.48, 2.94, 2.71, 2.64, 2.58, 2.55, 2.53, 2.48, 2.45, 2.40, 2.36)


def _worse(parent: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(v + (0.3 if s >= 60 else 0.0) for s, v in zip(STEPS, parent, strict=True))


def _late(parent: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(v + (0.06 if 0.3 <= s / BUDGET <= 0.8 else 0.0) - (0.02 if s == BUDGET else 0.0)
                 for s, v in zip(STEPS, parent, strict=True))


class CurveExecutor:
    name = "curves"

    def __init__(self, session_box: dict, slots: int = 1, stop_on=None, delay_s: float = 0.0,
                 dive: float = 0.0):
        self.box, self.slots, self.stop_on, self.delay_s = session_box, slots, stop_on, delay_s
        self.dive = dive  # reported monitoring losses from step 90 on, minus this: models that learned the windows
        self.stop_now = threading.Event()
        self.jobs: list[Job] = []
        self._pool = ThreadPoolExecutor(max_workers=slots)

    def curve(self, cid: int) -> tuple[float, ...]:
        """From the campaign's view, read in the loop's thread (submit), as the parents are known there."""
        parent = self.box["session"].campaign.pop.cands[cid].parent_id
        if parent is None:
            return SEED_CURVE
        return (_worse if cid % 2 else _late)(self.curve(parent))

    def _run(self, job: Job, curve: tuple[float, ...]) -> ScoreResult:
        self.stop_now.wait(self.delay_s)  # while it "trains", proposals queue up behind it
        if job.prune is not None:
            stopped = prune.replay(job.prune, BUDGET, STEPS, curve)
            if stopped:
                k, why = stopped
                return ScoreResult(PRUNED, why, job.seed, vloss_history=curve[:k], vloss_steps=STEPS[:k],
                                   steps=STEPS[k - 1], elapsed_s=STEPS[k - 1] / 10)
        fitness = curve[-1]
        curve = tuple(v - (self.dive if s >= 90 else 0.0) for s, v in zip(STEPS, curve, strict=True))
        return ScoreResult(OK, "", job.seed, best_vloss=fitness, returned_vloss=min(curve), test_loss=fitness,
                           vloss_history=curve, vloss_steps=STEPS, steps=BUDGET, elapsed_s=BUDGET / 10)

    def submit(self, slot: int, job: Job) -> Future:
        self.jobs.append(job)
        if self.stop_on is not None and self.stop_on(self.box["session"], job):  # the controller dies, once
            self.stop_on = None
            self.box["session"].campaign.request_stop()
            self.box["session"].campaign.request_stop()
            fut: Future = Future()
            fut.set_result(ScoreResult("interrupted", "stopped by the controller before it finished", job.seed))
            return fut
        return self._pool.submit(self._run, job, self.curve(job.candidate_id))

    def take_events(self) -> list:
        return []

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _launch(name, cfg, **kw):
    box: dict = {}

    def factory(task, _cfg):
        box["ex"] = CurveExecutor(box, **kw)
        return box["ex"]

    session = prepare_launch(cfg, name, executor_factory=factory)
    box["session"] = session
    return session, run_session(session), box["ex"]


def _rows(session, table):
    return lineage.export_rows(session.db, session.campaign_id, table)[1]


PRUNING = {"enabled": True}  # the settings' warm-up and calibrated margin


def test_worse_children_are_pruned_and_late_deciders_are_not(in_tmp):
    cfg = settings(budget={"max_evals": 14}, islands={"count": 1}, evaluation={"smoke": True, "confirm_seeds": 1},
                   pruning=PRUNING)
    session, outcome, ex = _launch("prune", cfg)
    cands = {c["id"]: c for c in _rows(session, "candidates")}
    evals = _rows(session, "evaluations")
    children = [c for c in cands.values() if c["operator"] != "seed" and c["status"] not in ("pending", "rejected")]
    pruned = [c for c in children if c["status"] == PRUNED]
    held = [c for c in children if c["prune_reference"] is not None and cands[c["prune_reference"]]["status"] == OK]
    # every odd (clearly worse) child that had a reference to be held to was pruned, and no even one was
    assert pruned and {c["id"] for c in pruned} == {c["id"] for c in held if c["id"] % 2}
    assert all(c["status"] == OK for c in held if c["id"] % 2 == 0)
    for c in pruned:
        row = next(e for e in evals if e["candidate_id"] == c["id"])
        assert row["status"] == PRUNED and c["fitness"] is None
        assert row["vloss_steps"] == [0, 30, 60, 90] and len(row["vloss_history"]) == 4  # its partial curve
        assert f"candidate #{c['prune_reference']}" in c["reason"]
    # the reference is the island's best when the candidate was proposed: a finished ok candidate
    assert all(cands[c["prune_reference"]]["status"] == OK for c in held)
    # a pruned candidate is never a parent, and its persona was credited with a child that did not improve
    pruned_ids = {c["id"] for c in pruned}
    assert not any(c["parent_id"] in pruned_ids or c["parent2_id"] in pruned_ids for c in cands.values())
    record = session.campaign.pop.persona_record()
    for persona in {c["persona"] for c in pruned}:
        mine = [c for c in cands.values() if c["persona"] == persona and c["status"] not in ("pending", "running")]
        improved = [c for c in mine if c["status"] == OK and c["fitness"] < cands[c["parent_id"]]["fitness"]]
        assert record[persona] == (len(mine), len(improved))
    # the seed and every confirmation seed ran without a rule; first-seed children with a reference had one
    first = cfg.evaluation.seed
    assert all(j.prune is None for j in ex.jobs if j.seed != first or cands[j.candidate_id]["operator"] == "seed")
    assert any(j.seed != first for j in ex.jobs)  # a confirmation did run
    assert all(j.prune is not None and j.prune.reference == cands[j.candidate_id]["prune_reference"]
               for j in ex.jobs if j.candidate_id in {c["id"] for c in held} and j.seed == first)
    assert outcome.evals_done == 14


def test_a_reference_that_learned_its_monitoring_windows_does_not_prune_honest_children(in_tmp):
    cfg = settings(budget={"max_evals": 10}, islands={"count": 1}, evaluation={"smoke": True, "confirm_seeds": 0},
                   pruning=PRUNING)
    session, _, _ = _launch("dive", cfg, dive=0.5)
    cands = _rows(session, "candidates")
    held = [c for c in cands if c["prune_reference"] is not None and c["status"] not in ("pending", "running")]
    # every reference's monitoring curve is 0.5 below what its fitness vouches for: held to it as it is,
    # every child would be pruned
    assert [c for c in held if c["id"] % 2 == 0], "no late-deciding child was held to a reference"
    assert all(c["status"] == OK for c in held if c["id"] % 2 == 0)
    assert all(c["status"] == PRUNED for c in held if c["id"] % 2)  # the clearly worse still are


def test_with_pruning_off_nothing_is_pruned_but_the_reference_is_still_recorded(in_tmp):
    cfg = settings(budget={"max_evals": 8}, islands={"count": 1}, evaluation={"smoke": True, "confirm_seeds": 0})
    session, _, ex = _launch("noprune", cfg)
    cands = _rows(session, "candidates")
    assert all(j.prune is None for j in ex.jobs)
    assert not any(c["status"] == PRUNED for c in cands)
    assert any(c["prune_reference"] is not None for c in cands)  # what a replay of the rule needs


def test_a_resumed_campaign_holds_an_interrupted_candidate_to_the_same_reference(in_tmp):
    cfg = settings(budget={"max_evals": 16}, islands={"count": 1}, evaluation={"smoke": True, "confirm_seeds": 0},
                   pruning=PRUNING)
    # the controller dies while a clearly worse child trains whose island has a new best since its proposal
    def moved_on(session, job):
        best = session.campaign.pop.best(0)
        return job.candidate_id % 2 == 1 and job.prune is not None and best.id != job.prune.reference

    session, _, ex = _launch("killed", cfg, stop_on=moved_on, delay_s=0.3)
    victim = ex.jobs[-1]
    assert moved_on(session, victim), "no child was evaluated after its island's best had changed"
    cands = {c["id"]: c for c in _rows(session, "candidates")}
    assert cands[victim.candidate_id]["status"] == "pending"
    assert victim.prune.reference == cands[victim.candidate_id]["prune_reference"]

    box: dict = {}

    def factory(task, _cfg):
        box["ex"] = CurveExecutor(box)
        return box["ex"]

    resumed = prepare_resume("killed", executor_factory=factory)
    box["session"] = resumed
    run_session(resumed)
    again = next(j for j in box["ex"].jobs if j.candidate_id == victim.candidate_id)
    assert again.prune == victim.prune  # the same reference, its same curve, the same settings
    after = lineage.candidate(resumed.db, resumed.campaign_id, victim.candidate_id).candidate
    assert after.status == PRUNED and f"candidate #{victim.prune.reference}" in after.reason


def test_pruning_with_a_pareto_objective_is_refused_in_one_line(in_tmp, tmp_path):
    from tests.conftest import TASK_DIR

    task = tmp_path / "pareto_task"
    task.mkdir()
    for f in TASK_DIR.iterdir():
        if f.is_file():
            (task / f.name).write_bytes(f.read_bytes())
    toml = (task / "task.toml").read_text()
    (task / "task.toml").write_text(toml.replace('objective = "minimize best_vloss"',
                                                 'objective = "pareto best_vloss train_flops"'))
    cfg = settings(task=str(task), pruning=PRUNING)
    with pytest.raises(InputError, match="pruning compares validation losses alone"):
        prepare_launch(cfg, "both")
