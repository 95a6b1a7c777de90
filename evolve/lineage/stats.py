"""Credit per persona and operator, and per island: derived from rows every time, never stored.

Improvement is the first parent's fitness minus the child's (losses: positive means the child is better).
It is defined when both are ok. A child counts once it is finished (not pending or running); the share
improving is over all finished children, so an invalid child counts as one that did not improve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from evolve.kinds import Operator
from evolve.lineage.constants import PENDING, RUNNING
from evolve.lineage.db import Database
from evolve.lineage.models import Candidate, Island, LlmCall, Membership
from scoring.result import OK


def _fine_grained(db: Database, campaign_id: int) -> tuple[list[tuple], list[tuple]]:
    """Counts per (persona, operator) pair: one pass over the children (their parent's fitness is on their
    own row) and one over the LLM calls, each read from a covering index, that both the persona and the
    operator view are summed from."""
    child = Candidate
    comparable = sa.and_(child.status == OK, child.parent_fitness.is_not(None))
    gain = sa.case((comparable, child.parent_fitness - child.fitness))
    stmt = (
        sa.select(
            child.persona,
            child.operator,
            sa.func.count(),
            sa.func.sum(sa.case((child.status == OK, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(comparable, child.fitness < child.parent_fitness), 1), else_=0)),
            sa.func.max(gain),
            sa.func.sum(gain),
            sa.func.count(gain),
        )
        .where(
            child.campaign_id == campaign_id,
            child.operator != Operator.SEED,
            child.status.not_in([PENDING, RUNNING]),
        )
        .group_by(child.persona, child.operator)
    )
    # A call's own persona/operator columns (filled from its candidate when linked) carry its cost, so
    # that a failed call, which has no candidate, is credited too.
    cost_stmt = (
        sa.select(LlmCall.persona, LlmCall.operator, sa.func.count(), sa.func.sum(LlmCall.cost_usd))
        .where(LlmCall.campaign_id == campaign_id)
        .group_by(LlmCall.persona, LlmCall.operator)
    )
    with db.session() as s:
        return s.execute(stmt).all(), s.execute(cost_stmt).all()


@dataclass(frozen=True)
class Credit:
    """One persona's (or operator's) record as a parent's mutation operator."""

    name: str | None  # None: the seeds' missing persona
    children: int  # finished children
    valid: int  # of them ok
    share_valid: float | None
    improving: int  # ok and better than their first parent
    share_improving: float | None
    best_improvement: float | None  # parent's fitness minus the child's
    mean_improvement: float | None
    llm_calls: int
    cost_usd: float

    def to_dict(self, key: str) -> dict[str, Any]:
        """A table row, the name under `key` (persona or operator)."""
        d = asdict(self)
        return {key: d.pop("name"), **d}


@dataclass(frozen=True)
class CreditTables:
    persona: tuple[Credit, ...]
    operator: tuple[Credit, ...]

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"persona": [c.to_dict("persona") for c in self.persona],
                "operator": [c.to_dict("operator") for c in self.operator]}


@dataclass(frozen=True)
class IslandStats:
    island: int
    members: int  # by any way of arriving
    seeds: int
    born: int
    migrants_in: int
    candidates: int  # born there
    ok: int
    best_candidate: int | None  # the best ok member (a migrant can be an island's best)
    best_fitness: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _empty(name: Any) -> dict[str, Any]:
    return {
        "name": name,
        "children": 0,
        "valid": 0,
        "improving": 0,
        "best_improvement": None,
        "_gain_sum": 0.0,
        "_gain_n": 0,
        "llm_calls": 0,
        "cost_usd": 0.0,
    }


def _credit(children: list[tuple], calls: list[tuple], key: str) -> tuple[Credit, ...]:
    pick = 0 if key == "persona" else 1
    out: dict[Any, dict[str, Any]] = {}
    for row in children:
        _add_children(out.setdefault(row[pick], _empty(row[pick])), row[2:])
    for row in calls:
        r = out.setdefault(row[pick], _empty(row[pick]))
        r["llm_calls"] += row[2]
        r["cost_usd"] += float(row[3] or 0.0)
    result = [_finished(r) for r in out.values()]
    # By name, unnamed (a seed's missing persona) last: a stable order that tests and diffs can rely on.
    return tuple(sorted(result, key=lambda c: (c.name is None, str(c.name))))


def _add_children(r: dict[str, Any], counts: tuple) -> None:
    """Add one (persona, operator) group's children to a running tally."""
    n, valid, improving, best, gain_sum, gain_n = counts
    r["children"] += n
    r["valid"] += int(valid or 0)
    r["improving"] += int(improving or 0)
    if best is not None and (r["best_improvement"] is None or best > r["best_improvement"]):
        r["best_improvement"] = best
    r["_gain_sum"] += float(gain_sum or 0.0)
    r["_gain_n"] += gain_n


def _finished(r: dict[str, Any]) -> Credit:
    """A finished tally as shares and means (None where nothing was counted)."""
    n, gain_sum, gain_n = r["children"], r.pop("_gain_sum"), r.pop("_gain_n")
    return Credit(r["name"], n, r["valid"], r["valid"] / n if n else None, r["improving"],
                  r["improving"] / n if n else None, r["best_improvement"],
                  gain_sum / gain_n if gain_n else None, r["llm_calls"], r["cost_usd"])


def persona_stats(db: Database, campaign_id: int) -> CreditTables:
    """Per persona and per operator: children, share valid, share improving on their first parent, best and
    mean improvement, LLM calls and cost."""
    children, calls = _fine_grained(db, campaign_id)
    return CreditTables(_credit(children, calls, "persona"), _credit(children, calls, "operator"))


def island_stats(db: Database, campaign_id: int) -> list[IslandStats]:
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
            # Walk ok candidates best-first (ix_candidates_top) and stop at the first member of island i.
            member = sa.exists().where(
                Membership.campaign_id == campaign_id, Membership.island == i, Membership.candidate_id == Candidate.id
            )
            best[i] = s.execute(
                sa.select(Candidate.id, Candidate.fitness)
                .where(
                    Candidate.campaign_id == campaign_id, Candidate.status == OK, Candidate.fitness.is_not(None), member
                )
                .order_by(Candidate.fitness, Candidate.id)
                .limit(1)
            ).first()
    rows = []
    for i in islands:
        counts = {v: n for isl, v, n in via if isl == i}
        n_born, n_ok = born.get(i, (0, 0))
        b = best[i]
        rows.append(IslandStats(i, sum(counts.values()), counts.get("seed", 0), counts.get("birth", 0),
                                counts.get("migration", 0), n_born, int(n_ok or 0), None if b is None else b[0],
                                None if b is None else b[1]))
    return rows
