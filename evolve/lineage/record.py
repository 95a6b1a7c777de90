"""Writes, one transaction each: campaigns, and the module-level form of the Transaction methods.

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
from evolve.lineage.facts import NewCandidate, Parent, descent, mean_flops
from evolve.lineage.facts import fitness as facts_fitness
from evolve.lineage.models import Campaign, Evaluation, Island, LlmCall, utcnow
from evolve.lineage.models import Candidate as _Row
from evolve.lineage.transaction import Transaction, transaction
from scoring.errors import InputError
from scoring.result import OK, ScoreResult

_C = _Row.__table__

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
    """Record a candidate, its files and its membership of the island it was born on (for launch, imports,
    tools and tests; a campaign's proposals go through its ledger).

    Keywords: NewCandidate's (island, files, operator required). `generation` and the first parent's
    fitness are decided from the parents' rows (facts.descent) unless `generation` is given; `event_no`
    defaults to the next free number of the campaign. A code hash the campaign already holds raises
    DuplicateCode (store a rejected duplicate without one).
    """
    with transaction(db) as tx:
        return tx.candidate(campaign_id, _decided(tx, campaign_id, fields))


def _decided(tx: Transaction, campaign_id: int, fields: dict[str, Any]) -> NewCandidate:
    """The new candidate with its lineage facts read from the campaign's rows."""
    generation, parent_fitness = descent(_parents(tx, campaign_id, fields))
    code_hash = fields.get("code_hash")
    if code_hash is not None:
        existing = tx.conn.execute(sa.select(_C.c.id).where(_C.c.campaign_id == campaign_id,
                                                            _C.c.code_hash == code_hash)).scalar()
        if existing is not None:
            raise DuplicateCode(code_hash, existing)
    if fields.get("event_no") is None:
        last = tx.conn.execute(sa.select(sa.func.max(_C.c.event_no)).where(_C.c.campaign_id == campaign_id)).scalar()
        fields = {**fields, "event_no": 0 if last is None else last + 1}
    return NewCandidate(**{"generation": generation, **{k: v for k, v in fields.items() if v is not None},
                           "parent_fitness": parent_fitness})


def _parents(tx: Transaction, campaign_id: int, fields: dict[str, Any]) -> list[Parent]:
    """The new candidate's parents' rows as far as descent reads them (generation, fitness); each must be in
    the campaign."""
    ids = [p for p in (fields.get("parent_id"), fields.get("parent2_id")) if p is not None]
    rows = {r.id: r for r in tx.conn.execute(sa.select(_C.c.id, _C.c.generation, _C.c.fitness).where(
        _C.c.id.in_(ids), _C.c.campaign_id == campaign_id))}
    missing = [p for p in ids if p not in rows]
    if missing:
        raise ValueError(f"parent candidate {missing[0]} is not in campaign {campaign_id}")
    return [rows[p] for p in ids]


def set_candidate_status(db: Database, candidate_id: int, status: str, reason: str | None = None) -> None:
    """An intermediate (running) or final status without touching fitness; see finish_candidate."""
    with transaction(db) as tx:
        tx.set_status(candidate_id, status, reason)


def finish_candidate(db: Database, candidate_id: int, status: str, reason: str = "",
                     fitness: float | None = None) -> float | None:
    """Final status and fitness. For `ok` without an explicit fitness, it is facts.fitness of the candidate's
    evaluations as stored (confirmation seeds included), so a re-evaluated candidate is re-averaged."""
    with transaction(db) as tx:
        rows = tx.conn.execute(sa.select(Evaluation.status, Evaluation.seed, Evaluation.best_vloss,
                                         Evaluation.train_flops).where(Evaluation.candidate_id == candidate_id))
        results = [ScoreResult(r.status, "", r.seed, best_vloss=r.best_vloss, train_flops=r.train_flops) for r in rows]
        decided = fitness if fitness is not None else facts_fitness(results)
        tx.finish(candidate_id, status, reason, decided, mean_flops(results))
        return decided if status == OK else None


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
