"""The writes outside a campaign's loop that must decide a lineage fact from rows, one transaction each.

Every write is a method of evolve/lineage/transaction.py's Transaction (the one write API). A campaign's
ledger decides a new candidate's descent and a finished one's fitness from its in-memory view; launch,
imports, tools and tests have no view, so these functions decide the same facts, with the same functions
of facts.py, from the rows, then write through a Transaction. Plus the campaign's own row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from evolve.lineage.constants import (
    DuplicateCode,
)
from evolve.lineage.db import Database
from evolve.lineage.facts import NewCandidate, Parent, descent, mean_flops
from evolve.lineage.facts import fitness as facts_fitness
from evolve.lineage.models import Campaign, Evaluation, Island
from evolve.lineage.models import Candidate as _Row
from evolve.lineage.transaction import Transaction, transaction
from scoring.errors import InputError
from scoring.result import OK, ScoreResult

_C = _Row.__table__

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
