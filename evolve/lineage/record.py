"""Writes, one transaction each: campaigns, and the module-level form of every Transaction method.

A campaign's hot path groups its writes with evolve/lineage/transaction.py directly (through its ledger);
these functions are for everything else (launch, imports, tests, tools) and return plain ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evolve.lineage.constants import (
    CAMPAIGN_STATUSES,
    CANDIDATE_STATUSES,
    EVENT_KINDS,
    LOG_TAIL_CHARS,
    OPERATORS,
    PENDING,
    RUNNING,
    DuplicateCode,
    check,
    duplicate_reason,
)
from evolve.lineage.db import Database
from evolve.lineage.models import Campaign, Island, LlmCall, utcnow
from evolve.lineage.transaction import transaction
from scoring.errors import InputError
from scoring.result import ScoreResult

__all__ = ["CAMPAIGN_STATUSES", "CANDIDATE_STATUSES", "EVENT_KINDS", "LOG_TAIL_CHARS", "OPERATORS", "PENDING",
           "RUNNING", "DuplicateCode", "duplicate_reason"]


def create_campaign(db: Database, name: str, *, task_name: str, task_path: str, config: Mapping[str, Any],
                    seed: int, islands: int) -> int:
    """A new campaign with islands 0..islands-1. A name already taken is the user's mistake."""
    if islands < 1:
        raise ValueError("a campaign needs at least one island")
    with db.session() as s, s.begin():
        if s.scalar(sa.select(Campaign.id).where(Campaign.name == name)) is not None:
            raise InputError(f"campaign {name!r} already exists in this database; use `evolve resume {name}`")
        c = Campaign(name=name, task_name=task_name, task_path=task_path, config=dict(config), seed=seed,
                     status="created")
        s.add(c)
        s.flush()
        s.add_all(Island(campaign_id=c.id, island=i) for i in range(islands))
        return c.id


def set_campaign_status(db: Database, campaign_id: int, status: str) -> None:
    check(status, CAMPAIGN_STATUSES, "campaign status")
    with db.session() as s, s.begin():
        s.execute(sa.update(Campaign).where(Campaign.id == campaign_id).values(status=status, updated_at=utcnow()))


def add_candidate(db: Database, campaign_id: int, **fields: Any) -> int:
    """Record a candidate, its files and its membership of the island it was born on.

    Keywords: island, files, operator (required); persona, model, parent_id, parent2_id, generation,
    status (pending), reason, code_hash, event_no, summary, origin. `generation` defaults to one more
    than its oldest parent's (0 for a seed); `event_no` to the next free number of the campaign. A
    rejected duplicate is stored with `code_hash=None` and a reason naming the original; a second
    candidate with a hash the campaign holds raises DuplicateCode.
    """
    with transaction(db) as tx:
        return tx.candidate(campaign_id, **fields)


def set_candidate_status(db: Database, candidate_id: int, status: str, reason: str | None = None) -> None:
    """An intermediate (running) or final status without touching fitness; see finish_candidate."""
    with transaction(db) as tx:
        tx.set_status(candidate_id, status, reason)


def finish_candidate(db: Database, candidate_id: int, status: str, reason: str = "",
                     fitness: float | None = None) -> float | None:
    """Final status and fitness. For `ok` without an explicit fitness, it is the mean best_vloss of the
    candidate's ok evaluations (confirmation seeds included), so a re-evaluated candidate is re-averaged."""
    with transaction(db) as tx:
        return tx.finish(candidate_id, status, reason, fitness)[0]


def record_evaluation(db: Database, candidate_id: int, result: ScoreResult, started_at: datetime | None = None) -> None:
    """Store one finished evaluation. An `interrupted` row may be replaced by the re-run of the same
    seed; any other finished (candidate, seed) is never evaluated twice, so a repeat raises ValueError."""
    with transaction(db) as tx:
        tx.evaluation(candidate_id, result, started_at)


def record_llm_call(db: Database, campaign_id: int, *, model: str, prompt_hash: str, tokens_in: int = 0,
                    tokens_out: int = 0, cost_usd: float = 0.0, latency_s: float | None = None,
                    reply: str | None = None, error: str | None = None, candidate_id: int | None = None,
                    persona: str | None = None, operator: str | None = None) -> int:
    """One LLM request. Recorded even when it failed (error set): its cost counts against the budget.
    Linked to a candidate, its persona and operator are taken from it where left out, so the credit
    statistics read the call row alone."""
    with transaction(db) as tx:
        if candidate_id is not None and (persona is None or operator is None):
            p, o = tx.credit_of(candidate_id)
            persona, operator = persona if persona is not None else p, operator if operator is not None else o
        return tx.llm_call(campaign_id, candidate_id=candidate_id, persona=persona, operator=operator, model=model,
                           prompt_hash=prompt_hash, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost_usd,
                           latency_s=latency_s, reply=reply, error=error)


def record_proposal(db: Database, campaign_id: int, *, call: Mapping[str, Any],
                    candidate: Mapping[str, Any]) -> tuple[int, str, str]:
    """The LLM call and the candidate it produced, in one transaction.

    `call` holds record_llm_call's keywords, `candidate` add_candidate's. A candidate whose code hash the
    campaign already holds is stored as a rejected duplicate naming the original, as the campaign does.
    Returns the candidate's (id, status, reason); the call is linked to it and credited to its persona
    and operator.
    """
    with transaction(db) as tx:
        return tx.proposal(campaign_id, call=call, candidate=candidate)


def link_llm_call(db: Database, call_id: int, candidate_id: int) -> None:
    """The call comes before the candidate it produced: link them once the candidate exists."""
    with transaction(db) as tx:
        row = tx.conn.execute(sa.select(LlmCall.persona, LlmCall.operator).where(LlmCall.id == call_id)).first()
        if row is None:
            raise ValueError(f"no LLM call {call_id}")
        p, o = tx.credit_of(candidate_id)
        tx.conn.execute(sa.update(LlmCall).where(LlmCall.id == call_id).values(
            candidate_id=candidate_id, persona=row[0] if row[0] is not None else p,
            operator=row[1] if row[1] is not None else o))


def record_event(db: Database, campaign_id: int, kind: str, payload: Mapping[str, Any] | None = None) -> int:
    with transaction(db) as tx:
        return tx.event(campaign_id, kind, payload)


def add_membership(db: Database, campaign_id: int, island: int, candidate_id: int, *, via: str = "migration",
                   event_id: int | None = None) -> int | None:
    """Put a candidate on an island (a migrant). Already a member: nothing changes and None is returned,
    since ring migration brings candidates back to islands they already live on."""
    with transaction(db) as tx:
        return tx.membership(campaign_id, island, candidate_id, via, event_id)


def record_migration(db: Database, campaign_id: int, source: int, target: int, round_no: int,
                     ids: list[int]) -> int:
    """A migration round: its event and the migrants' memberships of the target island, in one transaction
    (a resume counts the rounds by their events, so an event without its memberships would lose them)."""
    with transaction(db) as tx:
        return tx.migration(campaign_id, source, target, round_no, ids)
