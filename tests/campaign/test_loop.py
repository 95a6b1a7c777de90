"""The campaign loop's decisions, with a rigged executor so every loss is known exactly."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from evolve import lineage
from evolve.launch import prepare_launch, prepare_resume, run_session
from evolve.operators.llm import LLMClient
from scoring.errors import InputError
from tests.campaign.conftest import RiggedExecutor, settings

SEED_LOSS = 3.0


def _run(name, cfg, loss, slots=1, delay_s=0.0):
    box = {}

    def factory(task, _cfg):
        box["ex"] = RiggedExecutor(lambda job: loss(box["session"], job), slots=slots, delay_s=delay_s)
        return box["ex"]

    session = prepare_launch(cfg, name, executor_factory=factory)
    box["session"] = session
    outcome = run_session(session)
    return session, outcome, box["ex"]


def _cand(session, cid):
    return lineage.candidate(session.db, session.campaign_id, cid).to_dict()


def _parent_loss(session, job) -> float:
    c = _cand(session, job.candidate_id)
    if c["parent_id"] is None:
        return SEED_LOSS
    parent = _cand(session, c["parent_id"])
    return parent["fitness"] if parent["fitness"] is not None else SEED_LOSS


def _evaluations(session):
    _, rows = lineage.export_rows(session.db, session.campaign_id, "evaluations")
    return rows


def test_evaluation_budget_is_reached_exactly_and_nothing_is_evaluated_twice(in_tmp):
    cfg = settings(budget={"max_evals": 9}, evaluation={"smoke": True, "confirm_seeds": 1})
    session, outcome, ex = _run("budget", cfg, lambda s, job: _parent_loss(s, job) - 0.01)
    rows = _evaluations(session)
    assert outcome.status == "finished" and "evaluation budget reached (9)" in outcome.reason
    assert len(rows) == 9 == outcome.evals_done
    pairs = [(r["candidate_id"], r["seed"]) for r in rows]
    assert len(set(pairs)) == len(pairs)
    assert sorted(ex.jobs) == sorted(pairs)
    # each proposal's own account of its change is kept: the next prompts show it as context
    _, cands = lineage.export_rows(session.db, session.campaign_id, "candidates")
    children = [c for c in cands if c["operator"] != "seed" and c["status"] == "ok"]
    assert children and all(c["summary"].strip() for c in children)


def test_a_new_island_best_is_confirmed_on_extra_seeds_and_its_fitness_is_the_mean(in_tmp):
    def loss(session, job):
        if _cand(session, job.candidate_id)["operator"] == "seed":
            return SEED_LOSS
        return 2.9 + 0.01 * (job.seed - 1337)

    cfg = settings(budget={"max_evals": 6}, islands={"count": 1},
                   evaluation={"smoke": True, "confirm_seeds": 2})
    session, outcome, _ = _run("confirm", cfg, loss)
    rows = _evaluations(session)
    seed_rows = [r for r in rows if r["candidate_id"] == outcome.seed_id]
    assert sorted(r["seed"] for r in seed_rows) == [1337, 1338, 1339]  # the seed is measured like a best
    first_child = min(r["candidate_id"] for r in rows if r["candidate_id"] != outcome.seed_id)
    child = _cand(session, first_child)
    assert sorted(e["seed"] for e in child["evaluations"]) == [1337, 1338, 1339]
    assert child["fitness"] == pytest.approx((2.90 + 2.91 + 2.92) / 3)
    _, events = lineage.export_rows(session.db, session.campaign_id, "events")
    confirmations = [e for e in events if e["kind"] == "confirmation"]
    assert confirmations[0]["payload"]["candidate"] == first_child
    # A later child with the same per-seed losses is no better than the confirmed best: one seed only.
    others = {r["candidate_id"] for r in rows} - {outcome.seed_id, first_child}
    for cid in others:
        assert len(_cand(session, cid)["evaluations"]) == 1


def test_migration_is_a_membership_of_the_source_islands_best(in_tmp):
    cfg = settings(budget={"max_evals": 10}, islands={"count": 2}, migration={"interval": 2, "top_k": 1},
                   evaluation={"smoke": True, "confirm_seeds": 0})
    counter = iter(range(1000))
    session, outcome, _ = _run("migrate", cfg, lambda s, job: 2.5 - 0.01 * next(counter))
    db, cid = session.db, session.campaign_id
    _, events = lineage.export_rows(db, cid, "events")
    migrations = [e for e in events if e["kind"] == "migration"]
    assert migrations, "no migration happened"
    _, memberships = lineage.export_rows(db, cid, "memberships")
    _, cands = lineage.export_rows(db, cid, "candidates")
    for e in migrations:
        p = e["payload"]
        assert p["to"] == (p["from"] + 1) % 2 and len(p["candidates"]) == 1
        migrant = p["candidates"][0]
        assert any(m["candidate_id"] == migrant and m["island"] == p["to"] and m["via"] == "migration"
                   and m["event_id"] == e["id"] for m in memberships)
        # the migrant was the best scored member of the source island when it moved
        members = {m["candidate_id"] for m in memberships if m["island"] == p["from"] and m["id"] < max(
            mm["id"] for mm in memberships if mm["event_id"] == e["id"])}
        scored = [c for c in cands if c["id"] in members and c["fitness"] is not None
                  and c["finished_at"] is not None and c["finished_at"] <= e["created_at"]]
        assert migrant == min(scored, key=lambda c: (c["fitness"], c["id"]))["id"]
    assert len({c["code_hash"] for c in cands if c["code_hash"]}) == len([c for c in cands if c["code_hash"]])


def _persona_counts(session) -> Counter:
    _, cands = lineage.export_rows(session.db, session.campaign_id, "candidates")
    return Counter(c["persona"] for c in cands if c["operator"] != "seed")


def test_the_persona_bandit_prefers_the_persona_whose_children_improve(in_tmp):
    def rigged(session, job):
        c = _cand(session, job.candidate_id)
        base = _parent_loss(session, job)
        return base if c["persona"] is None else base + (-0.02 if c["persona"] == "newton" else 0.02)

    common = dict(budget={"max_evals": 30}, islands={"count": 1}, evaluation={"smoke": True, "confirm_seeds": 0})
    bandit, _, _ = _run("bandit", settings(persona_choice={"method": "bandit", "exploration": 0.5}, **common), rigged)
    uniform, _, _ = _run("uniform", settings(persona_choice={"method": "uniform"}, **common), rigged)
    b, u = _persona_counts(bandit), _persona_counts(uniform)
    # uniform gives each of the five about a fifth; the bandit gives the improving persona over half in
    # practice (22-24 of ~41 measured), asserted with a margin since timing shifts the order of results
    assert b["newton"] > 0.4 * sum(b.values())
    assert b["newton"] > 2 * u["newton"]
    assert all(b["newton"] > 2 * n for p, n in b.items() if p != "newton")


def test_time_budget_stops_the_campaign(in_tmp):
    cfg = settings(budget={"max_evals": 500, "max_minutes": 0.03}, evaluation={"smoke": True, "confirm_seeds": 0})
    _, outcome, _ = _run("timed", cfg, lambda s, job: 2.0, delay_s=0.3)
    assert outcome.status == "finished" and "time budget reached" in outcome.reason
    assert 3 <= outcome.evals_done < 20


def test_cost_budget_stops_proposals(in_tmp, monkeypatch):
    original = LLMClient._offline

    def priced(self, prompt, seed, request):
        return dataclasses.replace(original(self, prompt, seed, request), cost_usd=0.01)

    monkeypatch.setattr(LLMClient, "_offline", priced)
    cfg = settings(budget={"max_evals": 500, "max_cost_usd": 0.035}, llm={"concurrency": 1},
                   evaluation={"smoke": True, "confirm_seeds": 0})
    session, outcome, _ = _run("costly", cfg, lambda s, job: 2.0)
    _, calls = lineage.export_rows(session.db, session.campaign_id, "llm_calls")
    assert len(calls) == 4  # 0.01 each: the fourth crosses $0.035 and nothing more is asked
    assert "LLM cost budget reached" in outcome.reason
    assert outcome.evals_done < 10


def test_a_second_controller_is_refused(in_tmp):
    cfg = settings(budget={"max_evals": 3})
    first = prepare_launch(cfg, "busy", executor_factory=lambda t, c: RiggedExecutor(lambda job: 2.0))
    with pytest.raises(InputError, match="already being run by pid"):
        prepare_resume("busy", executor_factory=lambda t, c: RiggedExecutor(lambda job: 2.0))
    run_session(first)  # and the first one finishes normally, releasing the campaign
    resumed = prepare_resume("busy", budget={"max_evals": 4},
                             executor_factory=lambda t, c: RiggedExecutor(lambda job: 2.0))
    assert run_session(resumed).evals_done == 4


def test_launch_refuses_an_existing_campaign_name(in_tmp):
    cfg = settings(budget={"max_evals": 1})
    run_session(prepare_launch(cfg, "once", executor_factory=lambda t, c: RiggedExecutor(lambda job: 2.0)))
    with pytest.raises(InputError, match="already exists"):
        prepare_launch(cfg, "once")


def test_proposals_start_while_the_seed_trains(in_tmp):
    """A slot should not wait one LLM latency after the seed: children are proposed during its evaluation."""
    cfg = settings(budget={"max_evals": 4}, evaluation={"smoke": True, "confirm_seeds": 0})
    session, outcome, _ = _run("early", cfg, lambda s, job: _parent_loss(s, job) - 0.01, delay_s=1.0)
    _, cands = lineage.export_rows(session.db, session.campaign_id, "candidates")
    seed = next(c for c in cands if c["operator"] == "seed")
    children = [c for c in cands if c["operator"] != "seed"]
    assert outcome.evals_done == 4 and children
    assert min(c["created_at"] for c in children) < seed["finished_at"]
    # the first children's parent is the seed, scored later: their credit compares with its fitness
    assert all(c["parent_fitness"] == seed["fitness"] for c in children if c["parent_id"] == seed["id"])
