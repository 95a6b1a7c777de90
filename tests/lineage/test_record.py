"""Writes and their guarantees (duplicates, never re-evaluating, bounded tails, leases) on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from evolve import lineage as L
from evolve.lineage.constants import LOG_TAIL_CHARS
from scoring.errors import InputError
from scoring.result import ScoreResult

FILES = {"model.py": "x = 1\n", "train_mps.py": "def train(): ...\n"}


@pytest.fixture
def db(db_url: str) -> Iterator[L.Database]:
    d = L.open_db(db_url)
    try:
        yield d
    finally:
        d.close()


@pytest.fixture
def camp(db: L.Database) -> int:
    return L.create_campaign(db, "c", task_name="t", task_path="/t", config={}, seed=1, islands=2)


def test_campaign_names_are_unique(db: L.Database, camp: int) -> None:
    with pytest.raises(InputError, match="already exists"):
        L.create_campaign(db, "c", task_name="t", task_path="/t", config={}, seed=1, islands=1)
    assert L.campaign(db, camp).islands == 2


def test_duplicate_code_hash_is_refused_but_a_rejected_duplicate_is_kept(db: L.Database, camp: int) -> None:
    first = L.add_candidate(db, camp, island=0, files=FILES, operator="seed", code_hash="h")
    with pytest.raises(L.DuplicateCode) as e:
        L.add_candidate(db, camp, island=0, files=FILES, operator="mutate", parent_id=first, code_hash="h")
    assert e.value.existing_id == first
    dup = L.add_candidate(
        db,
        camp,
        island=0,
        files=FILES,
        operator="mutate",
        parent_id=first,
        status="rejected",
        reason=f"duplicate of {first}",
    )
    assert L.candidate(db, camp, dup).candidate.reason == f"duplicate of {first}"


def test_a_candidate_outside_the_campaign_cannot_be_a_parent_and_nothing_is_written(db: L.Database,
                                                                                     camp: int) -> None:
    # (a campaign's proposals, with their LLM calls, are written by its ledger: tests/campaign/test_ledger.py)
    seed = L.add_candidate(db, camp, island=0, files=FILES, operator="seed", code_hash="h0")
    other = L.create_campaign(db, "other", task_name="t", task_path="/t", config={}, seed=1, islands=1)
    with pytest.raises(ValueError, match="not in campaign"):
        L.add_candidate(db, other, island=0, files=FILES, operator="mutate", parent_id=seed, code_hash="h1")
    assert L.export_rows(db, other, "candidates")[1] == [] and L.export_rows(db, other, "memberships")[1] == []


def test_generation_event_numbers_and_parents(db: L.Database, camp: int) -> None:
    a = L.add_candidate(db, camp, island=0, files=FILES, operator="seed")
    b = L.add_candidate(db, camp, island=1, files=FILES, operator="seed")
    c = L.add_candidate(db, camp, island=0, files=FILES, operator="mutate", parent_id=a)
    x = L.add_candidate(db, camp, island=0, files=FILES, operator="crossover", parent_id=c, parent2_id=b)
    rows = {r.id: r for r in L.ancestry(db, camp, x)}
    assert [rows[i].generation for i in (a, b, c, x)] == [0, 0, 1, 2]
    assert [rows[i].event_no for i in (a, b, c, x)] == [0, 1, 2, 3]
    other = L.create_campaign(db, "other", task_name="t", task_path="/t", config={}, seed=1, islands=1)
    with pytest.raises(ValueError, match="not in campaign"):
        L.add_candidate(db, other, island=0, files=FILES, operator="mutate", parent_id=a)
    with pytest.raises(ValueError, match="unknown operator"):
        L.add_candidate(db, camp, island=0, files=FILES, operator="migrant")
    with pytest.raises(sa.exc.IntegrityError):  # island 5 does not exist: the foreign key is enforced
        L.add_candidate(db, camp, island=5, files=FILES, operator="seed")


def test_a_finished_evaluation_is_never_repeated_but_an_interrupted_one_reruns(db: L.Database, camp: int) -> None:
    c = L.add_candidate(db, camp, island=0, files=FILES, operator="seed")
    with L.transaction(db) as tx:
        tx.evaluation(c, ScoreResult(status="interrupted", reason="stopped", seed=0))
    assert L.evaluated_pairs(db, camp) == set()
    with L.transaction(db) as tx:
        tx.evaluation(c, ScoreResult(status="ok", reason="", seed=0, best_vloss=1.25))
    assert L.evaluated_pairs(db, camp) == {(c, 0)}
    with pytest.raises(ValueError, match="already evaluated"):
        with L.transaction(db) as tx:
            tx.evaluation(c, ScoreResult(status="ok", reason="", seed=0, best_vloss=1.0))
    with L.transaction(db) as tx:
        tx.evaluation(c, ScoreResult(status="ok", reason="", seed=1, best_vloss=1.75))
    assert L.finish_candidate(db, c, "ok") == pytest.approx(1.5)  # mean of the seeds
    assert [e.result.status for e in L.candidate(db, camp, c).evaluations] == ["ok", "ok"]


def test_credit_follows_a_parent_whose_fitness_changes_later(db: L.Database, camp: int) -> None:
    seed = L.add_candidate(db, camp, island=0, files=FILES, operator="seed")
    child = L.add_candidate(db, camp, island=0, files=FILES, operator="mutate", persona="p", parent_id=seed)
    with L.transaction(db) as tx:
        tx.evaluation(child, ScoreResult(status="ok", reason="", seed=0, best_vloss=1.5))
    L.finish_candidate(db, child, "ok")
    assert L.persona_stats(db, camp).persona[0].improving == 0  # the parent has no fitness yet
    with L.transaction(db) as tx:
        tx.evaluation(seed, ScoreResult(status="ok", reason="", seed=0, best_vloss=2.0))
    L.finish_candidate(db, seed, "ok")
    row = L.persona_stats(db, camp).persona[0]
    assert (row.improving, row.best_improvement) == (1, pytest.approx(0.5))
    # A confirmation seed re-averages the parent to 1.25: the child no longer improves on it.
    with L.transaction(db) as tx:
        tx.evaluation(seed, ScoreResult(status="ok", reason="", seed=1, best_vloss=0.5))
    L.finish_candidate(db, seed, "ok")
    row = L.persona_stats(db, camp).persona[0]
    assert (row.improving, row.best_improvement) == (0, pytest.approx(-0.25))


def test_fitness_needs_an_ok_evaluation_and_failures_have_none(db: L.Database, camp: int) -> None:
    c = L.add_candidate(db, camp, island=0, files=FILES, operator="seed")
    with pytest.raises(ValueError, match="no ok evaluation"):
        L.finish_candidate(db, c, "ok")
    assert L.finish_candidate(db, c, "crashed", "boom", fitness=3.0) is None
    assert L.candidate(db, camp, c).candidate.fitness is None


def test_log_tail_is_bounded(db: L.Database, camp: int) -> None:
    c = L.add_candidate(db, camp, island=0, files=FILES, operator="seed")
    log = "".join(f"line {i}\n" for i in range(10_000)) + "the end"
    with L.transaction(db) as tx:
        tx.evaluation(c, ScoreResult(status="crashed", reason="x", seed=0, log_tail=log, notes=("n",)))
    tail = L.candidate(db, camp, c).evaluations[0].result.log_tail
    assert len(tail) == LOG_TAIL_CHARS and tail.endswith("the end") and tail.startswith("[...]")


def test_a_call_linked_to_its_candidate_is_credited_to_its_persona_and_operator(db: L.Database, camp: int) -> None:
    seed = L.add_candidate(db, camp, island=0, files=FILES, operator="seed")
    c = L.add_candidate(db, camp, island=0, files=FILES, operator="mutate", persona="newton", parent_id=seed)
    with L.transaction(db) as tx:  # the call takes its persona and operator from the candidate
        tx.llm_call(camp, model="m", prompt_hash="p", cost_usd=0.5, candidate_id=c)
        tx.llm_call(camp, model="m", prompt_hash="q", cost_usd=0.25, candidate_id=c)
    assert L.candidate(db, camp, c).llm_cost_usd == pytest.approx(0.75)
    stats = L.persona_stats(db, camp)
    assert [(r.name, r.llm_calls, r.cost_usd) for r in stats.persona] == [("newton", 2, 0.75)]
    assert [(r.name, r.llm_calls) for r in stats.operator] == [("mutate", 2)]
    with pytest.raises(ValueError, match="unknown event kind"):
        with L.transaction(db) as tx:
            tx.event(camp, "exploded")


def test_lease_refuses_a_second_controller_until_it_expires(db: L.Database, camp: int) -> None:
    first, second = L.new_owner(), L.new_owner()
    held = L.acquire_lease(db, camp, first, ttl_s=60)
    with pytest.raises(L.LeaseHeld, match="already being run"):
        L.acquire_lease(db, camp, second, ttl_s=60)
    assert L.acquire_lease(db, camp, first).owner == first  # re-acquiring our own lease is fine
    L.renew_lease(db, camp, first, ttl_s=60)
    assert L.current_lease(db, camp).owner == first  # type: ignore[union-attr]
    # After the first controller's lease runs out, the second one takes the campaign over...
    later = held.expires_at + timedelta(seconds=120)
    assert L.acquire_lease(db, camp, second, now=later).owner == second
    # ...and the first one learns it at its next heartbeat, and cannot release what it no longer holds.
    with pytest.raises(L.LeaseLost):
        L.renew_lease(db, camp, first)
    assert L.release_lease(db, camp, first) is False
    assert L.release_lease(db, camp, second) is True
    assert L.current_lease(db, camp) is None
    assert L.acquire_lease(db, camp, first).owner == first


def test_a_migration_round_is_one_transaction(db: L.Database, camp: int) -> None:
    seed = L.add_candidate(db, camp, island=0, files=FILES, operator="seed", code_hash="h")
    with pytest.raises(sa.exc.IntegrityError):  # the second migrant does not exist: nothing of the round is kept
        with L.transaction(db) as tx:
            tx.migration(camp, 0, 1, 1, [seed, 99_999])
    _, events = L.export_rows(db, camp, "events")
    assert [e for e in events if e["kind"] == "migration"] == []
    assert [m.candidate_id for m in L.members(db, camp, 1)] == []
    with L.transaction(db) as tx:
        event = tx.migration(camp, 0, 1, 1, [seed])
    assert [(m.candidate_id, m.via) for m in L.members(db, camp, 1)] == [(seed, "migration")]
    _, events = L.export_rows(db, camp, "events")
    assert [(e["id"], e["payload"]) for e in events if e["kind"] == "migration"] == [
        (event, {"from": 0, "to": 1, "round": 1, "candidates": [seed]})]
