"""A campaign's rows read back as the facts its ledger applied when it wrote them (evolve/lineage/facts.py):
a resumed campaign's view is the same reduction over them (`Population.apply`)."""

from __future__ import annotations

from dataclasses import fields

import sqlalchemy as sa

from evolve.kinds import EventKind
from evolve.lineage import models as M
from evolve.lineage.db import Database
from evolve.lineage.facts import Confirming, Evaluated, Fact, Joined, Migrated, Spent
from evolve.lineage.values import SCORE_FIELDS, Candidate
from scoring.result import ScoreResult

# a view keeps no times: only what decisions read (the live view never sees the rows' timestamps)
_VIEW_FIELDS = [f.name for f in fields(Candidate) if f.name not in ("depth", "created_at", "finished_at")]
_CANDIDATE_COLUMNS = [getattr(M.Candidate, name) for name in _VIEW_FIELDS]
_EVALUATION_COLUMNS = [getattr(M.Evaluation, name) for name in SCORE_FIELDS]
_TUPLES = ("vloss_history", "vloss_steps", "notes")


def _result(row: sa.Row) -> ScoreResult:
    d = dict(zip(SCORE_FIELDS, row[1:], strict=True))
    d.update({k: tuple(d[k] or ()) for k in _TUPLES}, reason=d["reason"] or "", log_tail=d["log_tail"] or "")
    return ScoreResult(**d)


def _event(kind: str, payload: dict) -> Fact | None:
    if kind == EventKind.MIGRATION:
        return Migrated(payload["from"], payload["round"])
    if kind == EventKind.CONFIRMATION:
        return Confirming(payload["candidate"])
    return None


def campaign_facts(db: Database, campaign_id: int) -> list[Fact]:
    """Candidates, evaluations, memberships, the view's events and LLM calls, each table in row order."""
    mine = M.Candidate.campaign_id == campaign_id
    with db.session() as s:
        out: list[Fact] = [Candidate(**dict(zip(_VIEW_FIELDS, r, strict=True))) for r in s.execute(
            sa.select(*_CANDIDATE_COLUMNS).where(mine).order_by(M.Candidate.id))]
        out += [Evaluated(r[0], _result(r)) for r in s.execute(
            sa.select(M.Evaluation.candidate_id, *_EVALUATION_COLUMNS).join(M.Candidate).where(mine)
            .order_by(M.Evaluation.id))]
        out += [Joined(r.candidate_id, r.island) for r in s.execute(
            sa.select(M.Membership.candidate_id, M.Membership.island)
            .where(M.Membership.campaign_id == campaign_id).order_by(M.Membership.id))]
        events = s.execute(sa.select(M.Event.kind, M.Event.payload).where(
            M.Event.campaign_id == campaign_id, M.Event.kind.in_([EventKind.MIGRATION, EventKind.CONFIRMATION]))
            .order_by(M.Event.id))
        out += [f for kind, payload in events if (f := _event(kind, payload)) is not None]
        out += [Spent(cost or 0.0) for (cost,) in s.execute(
            sa.select(M.LlmCall.cost_usd).where(M.LlmCall.campaign_id == campaign_id).order_by(M.LlmCall.id))]
    return out
