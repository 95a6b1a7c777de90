"""Lineage across campaigns: a campaign started with `launch --from` keeps, on each starting candidate,
a reference to the candidate it was taken from; these walks follow such references into that database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from evolve.lineage import values as V
from evolve.lineage.db import Database, open_db
from evolve.lineage.models import Candidate
from evolve.lineage.queries import ancestry, campaign_id
from scoring.errors import InputError

MAX_HOPS = 20  # campaigns started from campaigns started from ...: a cycle guard, not a real limit


def origin(db: Database, campaign: int, candidate: int) -> dict[str, Any] | None:
    with db.session() as s:
        return s.scalar(sa.select(Candidate.origin).where(Candidate.id == candidate, Candidate.campaign_id == campaign))


def _root_origin(db: Database, campaign: int, rows: list[V.Candidate]) -> dict[str, Any] | None:
    """Where the lineage's first root that came from another campaign was taken from, if one did."""
    roots = [r.id for r in rows if r.parent_id is None]
    return next((o for r in roots if (o := origin(db, campaign, r))), None)


def earlier_ancestry(db: Database, campaign: int, candidate: int) -> list[dict[str, Any]]:
    """For each earlier campaign the lineage crosses into, newest first: its name, its database, the
    candidate it was taken from, and that candidate's ancestors there. A database that cannot be opened
    any more ends the walk with an `error` entry instead of failing the whole query."""
    out: list[dict[str, Any]] = []
    ref = _root_origin(db, campaign, ancestry(db, campaign, candidate))
    while ref is not None and len(out) < MAX_HOPS:
        entry: dict[str, Any] = {"campaign": ref["campaign"], "db": ref["db"], "candidate": ref["candidate"]}
        try:
            other = open_db(ref["db"], create=False, readonly=True)
        except InputError as e:
            out.append({**entry, "error": str(e)})
            break
        try:
            cid = campaign_id(other, ref["campaign"])
            rows = ancestry(other, cid, ref["candidate"])
            entry["ancestors"] = rows
            out.append(entry)
            ref = _root_origin(other, cid, rows)
        finally:
            other.close()
    return out
