"""Credit per persona and operator, and per island: derived from rows every time, never stored.

Improvement is the first parent's fitness minus the child's (losses: positive means the child is better).
It is defined when both are ok. A child counts once it is finished (not pending or running); the share
improving is over all finished children, so an invalid child counts as one that did not improve.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from evolve.lineage.db import Database
from evolve.lineage.models import Candidate, Island, LlmCall, Membership
from evolve.lineage.record import PENDING, RUNNING
from scoring.result import OK


def _credit(db: Database, campaign_id: int, key: str) -> list[dict[str, Any]]:
    child, parent = aliased(Candidate), aliased(Candidate)
    comparable = sa.and_(child.status == OK, parent.status == OK, parent.fitness.is_not(None))
    gain = parent.fitness - child.fitness
    group = getattr(child, key)
    stmt = (
        sa.select(
            group,
            sa.func.count(),
            sa.func.sum(sa.case((child.status == OK, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(comparable, child.fitness < parent.fitness), 1), else_=0)),
            sa.func.max(sa.case((comparable, gain))),
            sa.func.avg(sa.case((comparable, gain))),
        )
        .select_from(child)
        .outerjoin(parent, parent.id == child.parent_id)
        .where(
            child.campaign_id == campaign_id,
            child.operator != "seed",
            child.status.not_in([PENDING, RUNNING]),
        )
        .group_by(group)
    )
    # A failed call has no candidate: its own persona/operator columns carry the credit for its cost.
    cand = aliased(Candidate)
    cost_key = sa.func.coalesce(getattr(LlmCall, key), getattr(cand, key))
    cost_stmt = (
        sa.select(cost_key, sa.func.count(), sa.func.sum(LlmCall.cost_usd))
        .select_from(LlmCall)
        .outerjoin(cand, cand.id == LlmCall.candidate_id)
        .where(LlmCall.campaign_id == campaign_id)
        .group_by(cost_key)
    )
    with db.session() as s:
        rows = s.execute(stmt).all()
        costs = {k: (n, float(c or 0.0)) for k, n, c in s.execute(cost_stmt)}
    out: dict[Any, dict[str, Any]] = {}
    for name, n, valid, improving, best, mean in rows:
        out[name] = {
            key: name,
            "children": n,
            "valid": int(valid),
            "share_valid": valid / n,
            "improving": int(improving),
            "share_improving": improving / n,
            "best_improvement": best,
            "mean_improvement": None if mean is None else float(mean),
        }
    for name, (calls, cost) in costs.items():
        row = out.setdefault(
            name,
            {
                key: name,
                "children": 0,
                "valid": 0,
                "share_valid": None,
                "improving": 0,
                "share_improving": None,
                "best_improvement": None,
                "mean_improvement": None,
            },
        )
        row["llm_calls"], row["cost_usd"] = calls, cost
    for row in out.values():
        row.setdefault("llm_calls", 0)
        row.setdefault("cost_usd", 0.0)
    # By name, unnamed (a seed's missing persona) last: a stable order that tests and diffs can rely on.
    return sorted(out.values(), key=lambda r: (r[key] is None, str(r[key])))


def persona_stats(db: Database, campaign_id: int) -> dict[str, list[dict[str, Any]]]:
    """{"persona": rows, "operator": rows}: children, share valid, share improving on their first parent,
    best and mean improvement, LLM calls and cost."""
    return {"persona": _credit(db, campaign_id, "persona"), "operator": _credit(db, campaign_id, "operator")}


def island_stats(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Per island: members (by how they arrived), candidates born there and how many are ok, and the
    best ok member (a migrant can be an island's best)."""
    with db.session() as s:
        islands = s.scalars(
            sa.select(Island.island).where(Island.campaign_id == campaign_id).order_by(Island.island)
        ).all()
        via = s.execute(
            sa.select(Membership.island, Membership.via, sa.func.count())
            .where(Membership.campaign_id == campaign_id)
            .group_by(Membership.island, Membership.via)
        ).all()
        born = {
            i: (n, ok)
            for i, n, ok in s.execute(
                sa.select(
                    Candidate.island,
                    sa.func.count(),
                    sa.func.sum(sa.case((Candidate.status == OK, 1), else_=0)),
                )
                .where(Candidate.campaign_id == campaign_id)
                .group_by(Candidate.island)
            )
        }
        best = {}
        for i in islands:
            best[i] = s.execute(
                sa.select(Candidate.id, Candidate.fitness)
                .join(Membership, Membership.candidate_id == Candidate.id)
                .where(
                    Membership.campaign_id == campaign_id,
                    Membership.island == i,
                    Candidate.status == OK,
                    Candidate.fitness.is_not(None),
                )
                .order_by(Candidate.fitness, Candidate.id)
                .limit(1)
            ).first()
    rows = []
    for i in islands:
        counts = {v: n for isl, v, n in via if isl == i}
        n_born, n_ok = born.get(i, (0, 0))
        b = best[i]
        rows.append(
            {
                "island": i,
                "members": sum(counts.values()),
                "seeds": counts.get("seed", 0),
                "born": counts.get("birth", 0),
                "migrants_in": counts.get("migration", 0),
                "candidates": n_born,
                "ok": int(n_ok or 0),
                "best_candidate": None if b is None else b[0],
                "best_fitness": None if b is None else b[1],
            }
        )
    return rows
