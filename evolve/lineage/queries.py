"""Reads: campaigns, candidates, lineage walks (recursive CTEs), island members, status summary."""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from evolve.lineage import values as V
from evolve.lineage.constants import PENDING, RUNNING
from evolve.lineage.db import Database
from evolve.lineage.lease import controller_gone, current_lease
from evolve.lineage.models import (
    Blob,
    Campaign,
    Candidate,
    CandidateFile,
    Evaluation,
    Event,
    Island,
    LlmCall,
    Membership,
)
from scoring.errors import InputError
from scoring.result import INTERRUPTED, OK, ScoreResult


@dataclass(frozen=True)
class Member:
    candidate_id: int
    island: int
    via: str  # seed | birth | migration
    joined_at: datetime
    status: str
    fitness: float | None
    persona: str | None
    operator: str


_ROW_COLUMNS = (
    Candidate.id,
    Candidate.island,
    Candidate.parent_id,
    Candidate.parent2_id,
    Candidate.operator,
    Candidate.persona,
    Candidate.status,
    Candidate.reason,
    Candidate.fitness,
    Candidate.summary,
    Candidate.model,
    Candidate.generation,
    Candidate.event_no,
    Candidate.code_hash,
    Candidate.created_at,
    Candidate.finished_at,
    Candidate.train_flops,
    Candidate.prune_reference,
    Candidate.chosen_after,
    Candidate.staleness,
)  # in the order of values.Candidate's fields


def _rows(db: Database, stmt: sa.Select) -> list[V.Candidate]:
    with db.session() as s:
        return [V.Candidate(*r) for r in s.execute(stmt)]


# -- campaigns ---------------------------------------------------------------------------------------------


def campaigns(db: Database) -> list[V.CampaignInfo]:
    with db.session() as s:
        ids = s.scalars(sa.select(Campaign.id).order_by(Campaign.id)).all()
    return [campaign(db, i) for i in ids]


def campaign_id(db: Database, name: str, *, sole_fallback: bool = False) -> int:
    """The id of campaign `name`. With `sole_fallback`, a database holding exactly one campaign answers
    for any name (a campaign folder that was renamed still opens)."""
    with db.session() as s:
        found = s.scalar(sa.select(Campaign.id).where(Campaign.name == name))
        if found is not None:
            return found
        names = s.scalars(sa.select(Campaign.name).order_by(Campaign.id)).all()
        if sole_fallback and len(names) == 1:
            return s.scalar(sa.select(Campaign.id))  # type: ignore[return-value]
    known = ", ".join(names[:10]) if names else "none"
    raise InputError(f"no campaign {name!r} in the database (campaigns: {known})")


def campaign(db: Database, campaign_id: int) -> V.CampaignInfo:
    """Everything resume needs to rebuild a campaign's settings."""
    with db.session() as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise InputError(f"no campaign with id {campaign_id}")
        islands = s.scalar(sa.select(sa.func.count()).select_from(Island).where(Island.campaign_id == campaign_id))
        return V.CampaignInfo(c.id, c.name, c.task_name, c.task_path, c.config, c.seed, c.status, islands,
                              c.created_at, c.updated_at)


# -- candidates --------------------------------------------------------------------------------------------


def _require(s: sa.orm.Session, campaign_id: int, candidate_id: int) -> Candidate:
    c = s.get(Candidate, candidate_id)
    if c is None or c.campaign_id != campaign_id:
        raise InputError(f"no candidate {candidate_id} in this campaign")
    return c


def candidate(db: Database, campaign_id: int, candidate_id: int) -> V.CandidateDetail:
    """One candidate with its files, evaluations, island memberships and LLM cost."""
    with db.session() as s:
        _require(s, campaign_id, candidate_id)
        row = s.execute(sa.select(*_ROW_COLUMNS).where(Candidate.id == candidate_id)).one()
        files = dict(
            s.execute(
                sa.select(CandidateFile.name, Blob.content)
                .join(Blob)
                .where(CandidateFile.candidate_id == candidate_id)
                .order_by(CandidateFile.name)
            ).all()
        )
        evals = s.execute(
            sa.select(*(getattr(Evaluation, f) for f in V.SCORE_FIELDS), Evaluation.created_at,
                      Evaluation.finished_at)
            .where(Evaluation.candidate_id == candidate_id)
            .order_by(Evaluation.seed)
        ).all()
        member_rows = s.execute(
            sa.select(Membership.island, Membership.via, Membership.joined_at)
            .where(Membership.candidate_id == candidate_id)
            .order_by(Membership.id)
        ).all()
        calls, cost = s.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(LlmCall.cost_usd), 0.0)).where(
                LlmCall.candidate_id == candidate_id
            )
        ).one()
    n = len(V.SCORE_FIELDS)
    return V.CandidateDetail(
        V.Candidate(*row),
        files,
        tuple(V.StoredEvaluation(_score_result(dict(zip(V.SCORE_FIELDS, e[:n], strict=True))), *e[n:])
              for e in evals),
        tuple(V.Membership(*m) for m in member_rows),
        calls,
        cost,
    )


def _score_result(d: dict[str, Any]) -> ScoreResult:
    return ScoreResult(**{**d, "reason": d["reason"] or "", "log_tail": d["log_tail"] or "",
                          "vloss_history": tuple(d["vloss_history"] or ()),
                          "vloss_steps": tuple(d["vloss_steps"] or ()), "notes": tuple(d["notes"] or ())})


def curve(db: Database, candidate_id: int, seed: int) -> tuple[tuple[int, ...], tuple[float, ...], float] | None:
    """The monitoring curve (steps, losses) and the fitness of the candidate's ok evaluation on `seed`; None
    when it has none (or was recorded before revision 0004 kept the steps)."""
    with db.session() as s:
        row = s.execute(sa.select(Evaluation.vloss_steps, Evaluation.vloss_history, Evaluation.best_vloss).where(
            Evaluation.candidate_id == candidate_id, Evaluation.seed == seed, Evaluation.status == OK)).first()
    if row is None or not row[0] or len(row[0]) != len(row[1] or ()):
        return None
    return (tuple(int(s) for s in row[0]), tuple(float("nan") if v is None else float(v) for v in row[1]),
            row[2])


def ok_losses(db: Database, candidate_ids: Iterable[int]) -> dict[int, list[tuple[float, float | None]]]:
    """(best_vloss, test_loss) of each ok evaluation, by seed, of each candidate (files are not read)."""
    ids = list(candidate_ids)
    out: dict[int, list[tuple[float, float | None]]] = {i: [] for i in ids}
    with db.session() as s:
        for cid, vloss, test in s.execute(
            sa.select(Evaluation.candidate_id, Evaluation.best_vloss, Evaluation.test_loss)
            .where(Evaluation.candidate_id.in_(ids), Evaluation.status == OK)
            .order_by(Evaluation.candidate_id, Evaluation.seed)
        ):
            out[cid].append((vloss, test))
    return out


def candidate_files(db: Database, candidate_id: int) -> dict[str, str]:
    with db.session() as s:
        return dict(
            s.execute(
                sa.select(CandidateFile.name, Blob.content).join(Blob).where(CandidateFile.candidate_id == candidate_id)
            ).all()
        )


def find_by_hash(db: Database, campaign_id: int, code_hash: str) -> int | None:
    """The candidate holding this normalized code hash, for the duplicate screen."""
    with db.session() as s:
        return s.scalar(
            sa.select(Candidate.id).where(Candidate.campaign_id == campaign_id, Candidate.code_hash == code_hash)
        )


def top(db: Database, campaign_id: int, k: int = 10) -> list[V.Candidate]:
    """The k best ok candidates (lowest fitness; ties by age), served by ix_candidates_top."""
    return _rows(
        db,
        sa.select(*_ROW_COLUMNS)
        .where(Candidate.campaign_id == campaign_id, Candidate.status == OK, Candidate.fitness.is_not(None))
        .order_by(Candidate.fitness, Candidate.id)
        .limit(k),
    )


def scored(db: Database, campaign_id: int) -> list[V.Candidate]:
    """Every ok candidate with a fitness, lowest first (ties by age): what a multi-objective reduction such
    as the Pareto front (`evolve.pareto`, above this layer) chooses from."""
    return _rows(db, sa.select(*_ROW_COLUMNS).where(Candidate.campaign_id == campaign_id, Candidate.status == OK,
                                                    Candidate.fitness.is_not(None))
                 .order_by(Candidate.fitness, Candidate.id))


def costs(db: Database, ids: list[int]) -> dict[int, dict[str, float | None]]:
    """What training each candidate cost, over its ok evaluations: mean training FLOPs and CPU seconds,
    the largest resident set."""
    if not ids:
        return {}
    with db.session() as s:
        rows = s.execute(
            sa.select(Evaluation.candidate_id, sa.func.avg(Evaluation.train_flops), sa.func.avg(Evaluation.cpu_s),
                      sa.func.max(Evaluation.max_rss_mb))
            .where(Evaluation.candidate_id.in_(ids), Evaluation.status == OK)
            .group_by(Evaluation.candidate_id)
        )
        return {c: {"train_flops": f, "cpu_s": cpu, "max_rss_mb": rss} for c, f, cpu, rss in rows}


def evaluated_pairs(db: Database, campaign_id: int) -> set[tuple[int, int]]:
    """(candidate, seed) pairs already finished: resume never runs them again. Interrupted ones re-run."""
    with db.session() as s:
        rows = s.execute(
            sa.select(Evaluation.candidate_id, Evaluation.seed)
            .join(Candidate)
            .where(Candidate.campaign_id == campaign_id, Evaluation.status != INTERRUPTED)
        )
        return {(c, seed) for c, seed in rows}


def members(db: Database, campaign_id: int, island: int) -> list[Member]:
    """Everyone living on an island (born there, seeded there or migrated in), in order of arrival."""
    stmt = (
        sa.select(
            Membership.candidate_id,
            Membership.island,
            Membership.via,
            Membership.joined_at,
            Candidate.status,
            Candidate.fitness,
            Candidate.persona,
            Candidate.operator,
        )
        .join(Candidate, Candidate.id == Membership.candidate_id)
        .where(Membership.campaign_id == campaign_id, Membership.island == island)
        .order_by(Membership.id)
    )
    with db.session() as s:
        return [Member(*r) for r in s.execute(stmt)]


# -- lineage walks -----------------------------------------------------------------------------------------


def _depths(start: int, edges: Iterable[tuple[int, int | None]]) -> dict[int, int]:
    """Shortest distance from `start` along (node -> next) edges: a crossover makes several paths."""
    nxt: dict[int, list[int]] = {}
    for a, b in edges:
        if b is not None:
            nxt.setdefault(a, []).append(b)
    depth = {start: 0}
    todo = deque([start])
    while todo:
        n = todo.popleft()
        for m in nxt.get(n, ()):
            if m not in depth:
                depth[m] = depth[n] + 1
                todo.append(m)
    return depth


@cache
def _walk_statement(up: bool) -> sa.Select:
    """The recursive walk, built once with a bound start id (building it costs more than running it).

    UNION (not UNION ALL) visits each candidate once however many crossover paths lead to it.
    """
    start = sa.select(Candidate.id).where(Candidate.id == sa.bindparam("start"))
    child, parent = aliased(Candidate), aliased(Candidate)
    if up:
        walk = start.cte("ancestors", recursive=True)
        walk = walk.union(
            sa.select(parent.id)
            .join(child, parent.id.in_([child.parent_id, child.parent2_id]))
            .join(walk, child.id == walk.c.id)
        )
    else:
        walk = start.cte("descendants", recursive=True)
        walk = walk.union(
            sa.select(child.id).join(walk, sa.or_(child.parent_id == walk.c.id, child.parent2_id == walk.c.id))
        )
    # A join, not `id IN (walk)`: SQLite would scan every candidate and probe the walk.
    return sa.select(*_ROW_COLUMNS).join(walk, walk.c.id == Candidate.id)


def ancestry(db: Database, campaign_id: int, candidate_id: int) -> list[V.Candidate]:
    """The candidate and all its ancestors through both parents, nearest first (depth 0 = itself)."""
    return _walk(db, campaign_id, candidate_id, up=True)


def descendants(db: Database, campaign_id: int, candidate_id: int) -> list[V.Candidate]:
    """The candidate and everything bred from it (as first or second parent), nearest first."""
    return _walk(db, campaign_id, candidate_id, up=False)


def _walk(db: Database, campaign_id: int, candidate_id: int, up: bool) -> list[V.Candidate]:
    with db.session() as s:
        _require(s, campaign_id, candidate_id)
        rows = s.execute(_walk_statement(up), {"start": candidate_id}).all()
    # Columns 0, 2, 3 are id, parent_id, parent2_id; rows become dataclasses once, with their depth.
    if up:
        edges = [(r[0], p) for r in rows for p in (r[2], r[3])]
    else:
        edges = [(p, r[0]) for r in rows for p in (r[2], r[3]) if p is not None]
    depth = _depths(candidate_id, edges)
    rows.sort(key=lambda r: (depth[r[0]], r[0]))
    return [V.Candidate(*r, depth=depth[r[0]]) for r in rows]


# -- summary -----------------------------------------------------------------------------------------------

STOP_EVENTS = ("finished", "interruption", "no_progress", "budget_reached")


UNCONFIRMED, NOT_TRAINED = "unconfirmed", "not trained"  # what `pending` means once nothing runs the campaign
ENDED = ("finished", "stopped", "failed")  # campaign statuses no controller runs


@dataclass(frozen=True)
class Unfinished:
    """A candidate still waiting for evaluations (pending or running)."""

    id: int
    operator: str
    val_losses: tuple[float, ...]  # of its finished evaluations, by seed (a failed one would have ended it)
    seeds: int  # how many it needs: every seed for a starting program or a confirmation, else the first

    @property
    def state(self) -> str:
        """Once nothing runs the campaign: half-confirmed, or never trained at all."""
        return UNCONFIRMED if self.val_losses else NOT_TRAINED


def unfinished(db: Database, campaign_id: int) -> list[Unfinished]:
    """The candidates still pending or running, oldest first, with the evaluations they have."""
    info = campaign(db, campaign_id)
    every = int(info.config.get("evaluation", {}).get("confirm_seeds", 0)) + 1
    with db.session() as s:
        cands = s.execute(
            sa.select(Candidate.id, Candidate.operator)
            .where(Candidate.campaign_id == campaign_id, Candidate.status.in_([PENDING, RUNNING]))
            .order_by(Candidate.id)
        ).all()
    losses = ok_losses(db, [c for c, _ in cands])
    return [Unfinished(c, op, tuple(v for v, _ in losses[c]), every if op == "seed" or losses[c] else 1)
            for c, op in cands]


def left_undone(rows: list[Unfinished]) -> str | None:
    """One line: the half-confirmed candidates and the queued ones never trained."""
    parts = [f"#{u.id} {UNCONFIRMED} ({len(u.val_losses)} of {u.seeds} seeds evaluated, val loss "
             f"{sum(u.val_losses) / len(u.val_losses):.4f} so far)" for u in rows if u.state == UNCONFIRMED]
    never = [f"#{u.id}" for u in rows if u.state == NOT_TRAINED]
    if never:
        more = f" and {len(never) - 10} more" if len(never) > 10 else ""
        parts.append(f"{NOT_TRAINED}: {', '.join(never[:10])}{more}")
    return "; ".join(parts) or None


def resume_hint(name: str, status: str, reason: str | None) -> str | None:
    """What continues an ended campaign's work left undone: a stopped one resumes as it is, one that
    finished on its budget needs a larger one; a failed one (its starting program failed) none."""
    if status == "stopped":
        return f"evolve resume {name}"
    if status == "finished":
        more = "--max-minutes M" if (reason or "").startswith("time budget") else "--max-evals N"
        return f"evolve resume {name} {more}"
    return None


@dataclass(frozen=True)
class StatusReport(V.StatusSummary):
    """The summary as `evolve status` reports it: whether a controller still runs a campaign stored as
    running, and once nothing runs it, what it left undone (its `pending` and `running` rows are then
    half-confirmed or never trained, not queued) and what to run next. The stored status and counts stay
    as they are in the dataclass's fields; `status` and `to_dict` give the derived ones."""

    controller: str | None = None  # "pid N on HOST" of the controller holding the lease
    gone: bool = False  # stored as running, but its controller is gone (killed, or its machine died)
    left: tuple[Unfinished, ...] = ()  # what nothing will train until it is resumed (empty while it runs)

    @property
    def status(self) -> str:
        return "interrupted" if self.gone else self.campaign.status

    @property
    def idle(self) -> bool:
        """Nothing runs the campaign: it ended, or its controller is gone."""
        return self.gone or self.campaign.status in ENDED

    def next_step(self) -> str | None:
        if self.gone:
            return f"evolve resume {self.campaign.name}"
        hint = resume_hint(self.campaign.name, self.campaign.status, self.stop_reason) if self.left else None
        return f"{hint} trains what was left undone" if hint else None

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["status"] = self.status
        if self.gone:
            who = f" ({self.controller})" if self.controller else ""
            d["stop_reason"] = (f"its controller{who} is gone without ending the campaign (killed, or its "
                                "machine stopped)")
        if self.idle and (PENDING in self.by_status or RUNNING in self.by_status):
            counts = {k: n for k, n in self.by_status.items() if k not in (PENDING, RUNNING)}
            for u in self.left:
                counts[u.state] = counts.get(u.state, 0) + 1
            d["by_status"] = dict(sorted(counts.items()))
        d["controller"] = self.controller
        d["left"] = left_undone(list(self.left))
        d["next"] = self.next_step()
        return d


def status_summary(db: Database, campaign_id: int) -> StatusReport:
    """What `evolve status` shows and what resume recomputes budgets from: all counted from rows."""
    info = campaign(db, campaign_id)
    with db.session() as s:
        by_status = dict(
            s.execute(
                sa.select(Candidate.status, sa.func.count())
                .where(Candidate.campaign_id == campaign_id)
                .group_by(Candidate.status)
                .order_by(Candidate.status)
            ).all()
        )
        evals = dict(
            s.execute(
                sa.select(Evaluation.status, sa.func.count())
                .join(Candidate)
                .where(Candidate.campaign_id == campaign_id)
                .group_by(Evaluation.status)
                .order_by(Evaluation.status)
            ).all()
        )
        calls, errors, tin, tout, cost = s.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(LlmCall.error),
                sa.func.coalesce(sa.func.sum(LlmCall.tokens_in), 0),
                sa.func.coalesce(sa.func.sum(LlmCall.tokens_out), 0),
                sa.func.coalesce(sa.func.sum(LlmCall.cost_usd), 0.0),
            ).where(LlmCall.campaign_id == campaign_id)
        ).one()
        events = dict(
            s.execute(
                sa.select(Event.kind, sa.func.count())
                .where(Event.campaign_id == campaign_id)
                .group_by(Event.kind)
                .order_by(Event.kind)
            ).all()
        )
        stale = s.scalars(sa.select(Candidate.staleness).where(Candidate.campaign_id == campaign_id,
                                                              Candidate.staleness.is_not(None))).all()
        # why it ended, or why proposals stopped while the queue trains: the newest such event says
        last_stop = s.scalar(
            sa.select(Event.payload)
            .where(Event.campaign_id == campaign_id, Event.kind.in_(STOP_EVENTS))
            .order_by(Event.id.desc())
            .limit(1)
        )
    best = top(db, campaign_id, 1)
    lease = current_lease(db, campaign_id)
    gone = info.status == "running" and controller_gone(lease)
    idle = gone or info.status in ENDED
    return StatusReport(info, by_status, evals, best[0] if best else None, calls, errors, int(tin), int(tout),
                        float(cost), (last_stop or {}).get("reason"), events,
                        statistics.median(stale) if stale else None,
                        controller=f"pid {lease.pid} on {lease.host}" if lease else None, gone=gone,
                        left=tuple(unfinished(db, campaign_id)) if idle else ())
