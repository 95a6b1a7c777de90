"""Whole tables of one campaign as plain rows, for `evolve export` (csv, json, jsonl)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from evolve.lineage.db import Database
from evolve.lineage.models import Candidate, Evaluation, Event, LlmCall, Membership

TABLES = ("candidates", "evaluations", "llm_calls", "events", "memberships")


def _statement(table: str, campaign_id: int) -> sa.Select:
    if table == "candidates":
        return sa.select(Candidate).where(Candidate.campaign_id == campaign_id).order_by(Candidate.id)
    if table == "evaluations":
        return (
            sa.select(Evaluation)
            .join(Candidate)
            .where(Candidate.campaign_id == campaign_id)
            .order_by(Evaluation.candidate_id, Evaluation.seed)
        )
    model = {"llm_calls": LlmCall, "events": Event, "memberships": Membership}[table]
    return sa.select(model).where(model.campaign_id == campaign_id).order_by(model.id)


def export_rows(db: Database, campaign_id: int, table: str = "candidates") -> tuple[list[str], list[dict[str, Any]]]:
    """(column names, rows) of one table restricted to the campaign, in id order."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    stmt = _statement(table, campaign_id)
    model = stmt.column_descriptions[0]["entity"]
    columns = [c.key for c in model.__table__.columns]
    with db.session() as s:
        rows = [{c: getattr(obj, c) for c in columns} for obj in s.scalars(stmt)]
    return columns, rows
