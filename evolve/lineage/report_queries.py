"""Reads for the campaign report: time series and groupings the query commands do not need.

Each returns plain values in a stable order, selects only the columns it uses (never an LLM reply or a
log tail) and touches each table once, so that a 10,000-candidate campaign is read in well under a second.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evolve.kinds import Operator
from evolve.lineage.constants import PENDING, RUNNING
from evolve.lineage.db import Database
from evolve.lineage.models import Blob, Candidate, CandidateFile, Evaluation, Event, LlmCall, Membership
from scoring.result import OK


def evaluation_times(db: Database, campaign_id: int) -> list[datetime]:
    """When each evaluation row was recorded, in the order the campaign learned of them: the report's
    x axis (evaluation number) is read off this list."""
    with db.session() as s:
        return list(
            s.scalars(
                sa.select(Evaluation.created_at)
                .join(Candidate)
                .where(Candidate.campaign_id == campaign_id)
                .order_by(Evaluation.created_at, Evaluation.id)
            )
        )


def scored_memberships(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Every (island, ok candidate) membership with the candidate's fitness, when it finished and when it
    joined the island: an island's best improves when a child finishes there or a better migrant arrives."""
    stmt = (
        sa.select(
            Membership.island,
            Membership.candidate_id,
            Membership.via,
            Membership.joined_at,
            Candidate.finished_at,
            Candidate.fitness,
        )
        .join(Candidate, Candidate.id == Membership.candidate_id)
        .where(
            Membership.campaign_id == campaign_id,
            Candidate.status == OK,
            Candidate.fitness.is_not(None),
        )
        .order_by(Membership.id)
    )
    with db.session() as s:
        return [dict(r) for r in s.execute(stmt).mappings()]


def seed_evaluations(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Each seed candidate with the islands it seeds and its per-seed losses: its level and noise band."""
    with db.session() as s:
        seeds = s.execute(
            sa.select(Candidate.id, Candidate.fitness, Candidate.status)
            .where(Candidate.campaign_id == campaign_id, Candidate.operator == Operator.SEED)
            .order_by(Candidate.id)
        ).all()
        ids = [r[0] for r in seeds]
        islands = s.execute(
            sa.select(Membership.candidate_id, Membership.island)
            .where(Membership.campaign_id == campaign_id, Membership.via == "seed", Membership.candidate_id.in_(ids))
            .order_by(Membership.island)
        ).all()
        losses = s.execute(
            sa.select(Evaluation.candidate_id, Evaluation.seed, Evaluation.best_vloss)
            .where(Evaluation.candidate_id.in_(ids), Evaluation.status == OK, Evaluation.best_vloss.is_not(None))
            .order_by(Evaluation.seed)
        ).all()
    return [
        {
            "id": cid,
            "fitness": fitness,
            "status": status,
            "islands": [i for c, i in islands if c == cid],
            "losses": {seed: v for c, seed, v in losses if c == cid},
        }
        for cid, fitness, status in seeds
    ]


def cost_points(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Every ok candidate's fitness and mean training FLOPs, and whether it is a starting program."""
    with db.session() as s:
        rows = s.execute(
            sa.select(Candidate.id, Candidate.fitness, Candidate.train_flops, Candidate.operator)
            .where(Candidate.campaign_id == campaign_id, Candidate.status == OK, Candidate.fitness.is_not(None))
            .order_by(Candidate.id)
        ).all()
    return [{"id": i, "fitness": f, "train_flops": c, "seed": op == Operator.SEED} for i, f, c, op in rows]


def failure_reasons(db: Database, campaign_id: int, examples: int = 3) -> list[dict[str, Any]]:
    """Finished candidates that are not ok, by status (most frequent first), each with its most frequent
    reasons, how often each occurred and one candidate that gave it."""
    stmt = (
        sa.select(Candidate.status, Candidate.reason, sa.func.count(), sa.func.min(Candidate.id))
        .where(Candidate.campaign_id == campaign_id, Candidate.status.not_in([OK, PENDING, RUNNING]))
        .group_by(Candidate.status, Candidate.reason)
    )
    with db.session() as s:
        rows = s.execute(stmt).all()
    by_status: dict[str, dict[str, Any]] = {}
    for status, reason, n, example in sorted(rows, key=lambda r: (-r[2], r[3])):
        entry = by_status.setdefault(status, {"status": status, "count": 0, "examples": []})
        entry["count"] += n
        if len(entry["examples"]) < examples:
            entry["examples"].append({"reason": reason or "", "count": n, "candidate": example})
    return sorted(by_status.values(), key=lambda e: (-e["count"], e["status"]))


def events_of_kind(db: Database, campaign_id: int, kind: str) -> list[dict[str, Any]]:
    """One kind of event (e.g. migrations) in order, with its payload and time."""
    with db.session() as s:
        rows = s.execute(
            sa.select(Event.id, Event.payload, Event.created_at)
            .where(Event.campaign_id == campaign_id, Event.kind == kind)
            .order_by(Event.id)
        ).all()
    return [{"id": i, "payload": p, "created_at": t} for i, p, t in rows]


def llm_usage(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Every LLM call's time, tokens, cost and whether it failed, in order; the replies are not read."""
    with db.session() as s:
        rows = s.execute(
            sa.select(
                LlmCall.created_at,
                LlmCall.tokens_in,
                LlmCall.tokens_out,
                LlmCall.cost_usd,
                LlmCall.error.is_not(None),
            )
            .where(LlmCall.campaign_id == campaign_id)
            .order_by(LlmCall.id)
        ).all()
    return [
        {"created_at": t, "tokens_in": tin or 0, "tokens_out": tout or 0, "cost_usd": cost or 0.0, "failed": bool(f)}
        for t, tin, tout, cost, f in rows
    ]



def files_of(db: Database, campaign_id: int, ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The files of many candidates in one query (the report diffs every drawn node against its parent)."""
    wanted = sorted(set(ids))
    out: dict[int, dict[str, str]] = {i: {} for i in wanted}
    if not wanted:
        return out
    with db.session() as s:
        rows = s.execute(
            sa.select(CandidateFile.candidate_id, CandidateFile.name, Blob.content)
            .join(Blob)
            .join(Candidate, Candidate.id == CandidateFile.candidate_id)
            .where(Candidate.campaign_id == campaign_id, CandidateFile.candidate_id.in_(wanted))
            .order_by(CandidateFile.candidate_id, CandidateFile.name)
        ).all()
    for cid, name, content in rows:
        out[cid][name] = content
    return out


def candidate_rows(db: Database, campaign_id: int) -> list[dict[str, Any]]:
    """Every candidate of the campaign, by id, with what the report's table of candidates shows: no files,
    no evaluations. `gain` is the first parent's fitness minus its own (positive is better), where both are
    known and it is ok: the leaderboard's improvement, row by row."""
    with db.session() as s:
        rows = s.execute(
            sa.select(
                Candidate.id,
                Candidate.island,
                Candidate.parent_id,
                Candidate.parent2_id,
                Candidate.persona,
                Candidate.operator,
                Candidate.summary,
                Candidate.status,
                Candidate.reason,
                Candidate.fitness,
                Candidate.parent_fitness,
                Candidate.train_flops,
            )
            .where(Candidate.campaign_id == campaign_id)
            .order_by(Candidate.id)
        ).mappings().all()
    out = []
    for r in rows:
        row = dict(r)
        parent = row.pop("parent_fitness")
        comparable = row["status"] == OK and row["fitness"] is not None and parent is not None
        row["gain"] = parent - row["fitness"] if comparable else None
        out.append(row)
    return out
