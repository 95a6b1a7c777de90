"""Writes: everything a campaign records. Each function is one transaction and returns plain ids."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from evolve.kinds import Operator, Queued
from evolve.lineage.db import Database
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
    utcnow,
)
from scoring.errors import InputError
from scoring.result import INTERRUPTED, OK, REJECTED, STATUSES, ScoreResult

OPERATORS = tuple(Operator)
PENDING, RUNNING = Queued.PENDING, Queued.RUNNING  # proposed and queued / being evaluated
CANDIDATE_STATUSES = (PENDING, RUNNING, *STATUSES)
CAMPAIGN_STATUSES = ("created", "running", "stopped", "finished", "failed")
EVENT_KINDS = ("launch", "resume", "interruption", "migration", "confirmation", "budget_reached", "finished",
               "retry",  # an executor re-ran an evaluation whose worker died
               "no_progress",  # the progress guard stopped the proposals
               "proposal_skipped")  # a proposal that made no LLM call (its prompt could not be built)
VIAS = ("seed", "birth", "migration")
LOG_TAIL_CHARS = 4096  # rows keep a tail; whole logs stay on disk (stdout_path / stderr_path)


class DuplicateCode(Exception):
    """The campaign already holds a candidate with this normalized code hash (the screen missed it)."""

    def __init__(self, code_hash: str, existing_id: int) -> None:
        super().__init__(f"code hash {code_hash[:12]} already belongs to candidate {existing_id}")
        self.existing_id = existing_id


def duplicate_reason(existing_id: int) -> str:
    """The one wording of a duplicate, wherever it is caught (the campaign, or this module's unique hash)."""
    return f"duplicate: the same program (up to comments and formatting) as candidate {existing_id}"


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    # Programming errors, not user input: a typo here would silently split statistics.
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


def bounded_tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    if len(text) <= limit:
        return text
    marker = "[...]\n"
    return marker + text[-(limit - len(marker)) :]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_campaign(
    db: Database,
    name: str,
    *,
    task_name: str,
    task_path: str,
    config: Mapping[str, Any],
    seed: int,
    islands: int,
) -> int:
    """A new campaign with islands 0..islands-1. A name already taken is the user's mistake."""
    if islands < 1:
        raise ValueError("a campaign needs at least one island")
    with db.session() as s, s.begin():
        if s.scalar(sa.select(Campaign.id).where(Campaign.name == name)) is not None:
            raise InputError(f"campaign {name!r} already exists in this database; use `evolve resume {name}`")
        c = Campaign(
            name=name,
            task_name=task_name,
            task_path=task_path,
            config=dict(config),
            seed=seed,
            status="created",
        )
        s.add(c)
        s.flush()
        s.add_all(Island(campaign_id=c.id, island=i) for i in range(islands))
        return c.id


def set_campaign_status(db: Database, campaign_id: int, status: str) -> None:
    _check(status, CAMPAIGN_STATUSES, "campaign status")
    with db.session() as s, s.begin():
        s.execute(sa.update(Campaign).where(Campaign.id == campaign_id).values(status=status, updated_at=utcnow()))


def _store_blobs(s: Session, files: Mapping[str, str]) -> dict[str, str]:
    """Insert each distinct content once; concurrent writers of the same content both succeed."""
    hashes = {name: sha256_text(text) for name, text in files.items()}
    rows = [{"sha256": h, "size": len(files[n].encode("utf-8")), "content": files[n]} for n, h in hashes.items()]
    if rows:
        insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
        s.execute(insert(Blob).on_conflict_do_nothing(index_elements=["sha256"]), rows)
    return hashes


def add_candidate(
    db: Database,
    campaign_id: int,
    *,
    island: int,
    files: Mapping[str, str],
    operator: str,
    persona: str | None = None,
    model: str | None = None,
    parent_id: int | None = None,
    parent2_id: int | None = None,
    generation: int | None = None,
    status: str = PENDING,
    reason: str = "",
    code_hash: str | None = None,
    event_no: int | None = None,
    summary: str = "",
    origin: Mapping[str, Any] | None = None,
) -> int:
    """Record a candidate, its files and its membership of the island it was born on.

    `generation` defaults to one more than its oldest parent's (0 for a seed); `event_no` to the next
    free number of the campaign. A rejected duplicate is stored with `code_hash=None` and a reason
    naming the original; a second candidate with a hash the campaign holds raises DuplicateCode.
    """
    with db.session() as s, s.begin():
        return _add_candidate(s, campaign_id, island=island, files=files, operator=operator, persona=persona,
                              model=model, parent_id=parent_id, parent2_id=parent2_id, generation=generation,
                              status=status, reason=reason, code_hash=code_hash, event_no=event_no,
                              summary=summary, origin=origin)


def _add_candidate(s: Session, campaign_id: int, *, island: int, files: Mapping[str, str], operator: str,
                   persona: str | None = None, model: str | None = None, parent_id: int | None = None,
                   parent2_id: int | None = None, generation: int | None = None, status: str = PENDING,
                   reason: str = "", code_hash: str | None = None, event_no: int | None = None,
                   summary: str = "", origin: Mapping[str, Any] | None = None) -> int:
    _check(operator, OPERATORS, "operator")
    _check(status, CANDIDATE_STATUSES, "candidate status")
    if parent2_id is not None and parent_id is None:
        raise ValueError("a second parent needs a first parent")
    parents = [p for p in (parent_id, parent2_id) if p is not None]
    known = {
        r[0]: (r[1], r[2])
        for r in s.execute(
            sa.select(Candidate.id, Candidate.generation, Candidate.fitness).where(
                Candidate.id.in_(parents), Candidate.campaign_id == campaign_id
            )
        )
    }
    found = {k: v[0] for k, v in known.items()}
    missing = [p for p in parents if p not in found]
    if missing:
        raise ValueError(f"parent candidate {missing[0]} is not in campaign {campaign_id}")
    if code_hash is not None:
        existing = s.scalar(
            sa.select(Candidate.id).where(Candidate.campaign_id == campaign_id, Candidate.code_hash == code_hash)
        )
        if existing is not None:
            raise DuplicateCode(code_hash, existing)
    if generation is None:
        generation = 1 + max(found.values()) if found else 0
    if event_no is None:
        last = s.scalar(sa.select(sa.func.max(Candidate.event_no)).where(Candidate.campaign_id == campaign_id))
        event_no = 0 if last is None else last + 1
    c = Candidate(
        campaign_id=campaign_id,
        island=island,
        parent_id=parent_id,
        parent2_id=parent2_id,
        operator=operator,
        persona=persona,
        model=model,
        generation=generation,
        status=status,
        reason=reason,
        summary=summary,
        origin=dict(origin) if origin else None,
        code_hash=code_hash,
        event_no=event_no,
        parent_fitness=known[parent_id][1] if parent_id is not None else None,
    )
    s.add(c)
    s.flush()
    for name, sha in _store_blobs(s, files).items():
        s.add(CandidateFile(candidate_id=c.id, name=name, sha256=sha))
    s.add(
        Membership(
            campaign_id=campaign_id,
            island=island,
            candidate_id=c.id,
            via="seed" if operator == "seed" else "birth",
        )
    )
    return c.id


def set_candidate_status(db: Database, candidate_id: int, status: str, reason: str | None = None) -> None:
    """An intermediate (running) or final status without touching fitness; see finish_candidate."""
    _check(status, CANDIDATE_STATUSES, "candidate status")
    values: dict[str, Any] = {"status": status}
    if reason is not None:
        values["reason"] = reason
    if status not in (PENDING, RUNNING):
        values["finished_at"] = utcnow()
    with db.session() as s, s.begin():
        if s.execute(sa.update(Candidate).where(Candidate.id == candidate_id).values(**values)).rowcount != 1:
            raise ValueError(f"no candidate {candidate_id}")


def finish_candidate(
    db: Database, candidate_id: int, status: str, reason: str = "", fitness: float | None = None
) -> float | None:
    """Final status and fitness. For `ok` without an explicit fitness, it is the mean best_vloss of the
    candidate's ok evaluations (confirmation seeds included), so a re-evaluated candidate is re-averaged."""
    _check(status, STATUSES, "final status")
    with db.session() as s, s.begin():
        if status == OK and fitness is None:
            fitness = s.scalar(
                sa.select(sa.func.avg(Evaluation.best_vloss)).where(
                    Evaluation.candidate_id == candidate_id, Evaluation.status == OK
                )
            )
            if fitness is None:
                raise ValueError(f"candidate {candidate_id} has no ok evaluation to take its fitness from")
        if status != OK:
            fitness = None
        n = s.execute(
            sa.update(Candidate)
            .where(Candidate.id == candidate_id)
            .values(status=status, reason=reason, fitness=fitness, finished_at=utcnow())
        ).rowcount
        if n != 1:
            raise ValueError(f"no candidate {candidate_id}")
        # Children compare themselves with this fitness; a confirmation that re-averages it updates them.
        s.execute(sa.update(Candidate).where(Candidate.parent_id == candidate_id).values(parent_fitness=fitness))
        return fitness


def record_evaluation(db: Database, candidate_id: int, result: ScoreResult, started_at: datetime | None = None) -> int:
    """Store one finished evaluation. An `interrupted` row may be replaced by the re-run of the same
    seed; any other finished (candidate, seed) is never evaluated twice, so a repeat raises ValueError."""
    d = result.to_dict()
    fields = {
        k: d[k]
        for k in (
            "status",
            "reason",
            "best_vloss",
            "returned_vloss",
            "test_loss",
            "vloss_history",
            "steps",
            "elapsed_s",
            "startup_s",
            "wall_s",
            "peak_mem_mb",
            "device",
            "stdout_path",
            "stderr_path",
            "notes",
        )
    }
    fields["log_tail"] = bounded_tail(d.get("log_tail") or "")
    fields["finished_at"] = utcnow()
    with db.session() as s, s.begin():
        row = s.scalar(
            sa.select(Evaluation).where(Evaluation.candidate_id == candidate_id, Evaluation.seed == result.seed)
        )
        if row is None:
            row = Evaluation(candidate_id=candidate_id, seed=result.seed, created_at=started_at or utcnow(), **fields)
            s.add(row)
        elif row.status == INTERRUPTED:
            for k, v in fields.items():
                setattr(row, k, v)
            row.created_at = started_at or utcnow()
        else:
            raise ValueError(f"candidate {candidate_id} seed {result.seed} is already evaluated ({row.status})")
        s.flush()
        return row.id


def _credit_of(s: Session, candidate_id: int, persona: str | None, operator: str | None) -> tuple:
    """A call's persona and operator, taken from its candidate where the caller left them out: the
    credit statistics then read the call row alone."""
    row = s.execute(sa.select(Candidate.persona, Candidate.operator).where(Candidate.id == candidate_id)).first()
    if row is None:
        raise ValueError(f"no candidate {candidate_id}")
    return persona if persona is not None else row[0], operator if operator is not None else row[1]


def record_llm_call(
    db: Database,
    campaign_id: int,
    *,
    model: str,
    prompt_hash: str,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost_usd: float = 0.0,
    latency_s: float | None = None,
    reply: str | None = None,
    error: str | None = None,
    candidate_id: int | None = None,
    persona: str | None = None,
    operator: str | None = None,
) -> int:
    """One LLM request. Recorded even when it failed (error set): its cost counts against the budget."""
    with db.session() as s, s.begin():
        if candidate_id is not None and (persona is None or operator is None):
            persona, operator = _credit_of(s, candidate_id, persona, operator)
        return _add_call(s, campaign_id, candidate_id=candidate_id, persona=persona, operator=operator,
                         model=model, prompt_hash=prompt_hash, tokens_in=tokens_in, tokens_out=tokens_out,
                         cost_usd=cost_usd, latency_s=latency_s, reply=reply, error=error)


def _add_call(s: Session, campaign_id: int, **fields: Any) -> int:
    call = LlmCall(campaign_id=campaign_id, **fields)
    s.add(call)
    s.flush()
    return call.id


def record_proposal(db: Database, campaign_id: int, *, call: Mapping[str, Any],
                    candidate: Mapping[str, Any]) -> tuple[int, str, str]:
    """The LLM call and the candidate it produced, in one transaction (the campaign's hot path).

    `call` holds record_llm_call's keywords, `candidate` add_candidate's. A candidate whose code hash the
    campaign already holds is stored as a rejected duplicate naming the original, as the campaign does.
    Returns the candidate's (id, status, reason); the call is linked to it and credited to its persona
    and operator.
    """
    with db.session() as s, s.begin():
        fields = dict(candidate)
        try:
            cid = _add_candidate(s, campaign_id, **fields)
        except DuplicateCode as e:  # raised before anything was written
            fields.update(files={}, code_hash=None, status=REJECTED,
                          reason=duplicate_reason(e.existing_id))
            cid = _add_candidate(s, campaign_id, **fields)
        _add_call(s, campaign_id, **{"persona": fields.get("persona"), "operator": fields["operator"], **call},
                  candidate_id=cid)
        return cid, fields.get("status", PENDING), fields.get("reason", "")


def link_llm_call(db: Database, call_id: int, candidate_id: int) -> None:
    """The call comes before the candidate it produced: link them once the candidate exists."""
    with db.session() as s, s.begin():
        call = s.get(LlmCall, call_id)
        if call is None:
            raise ValueError(f"no LLM call {call_id}")
        call.candidate_id = candidate_id
        call.persona, call.operator = _credit_of(s, candidate_id, call.persona, call.operator)


def record_event(db: Database, campaign_id: int, kind: str, payload: Mapping[str, Any] | None = None) -> int:
    _check(kind, EVENT_KINDS, "event kind")
    with db.session() as s, s.begin():
        e = Event(campaign_id=campaign_id, kind=kind, payload=dict(payload or {}))
        s.add(e)
        s.flush()
        return e.id


def add_membership(
    db: Database,
    campaign_id: int,
    island: int,
    candidate_id: int,
    *,
    via: str = "migration",
    event_id: int | None = None,
) -> int | None:
    """Put a candidate on an island (a migrant). Already a member: nothing changes and None is returned,
    since ring migration brings candidates back to islands they already live on."""
    _check(via, VIAS, "membership")
    with db.session() as s, s.begin():
        return _add_membership(s, campaign_id, island, candidate_id, via, event_id)


def _add_membership(s: Session, campaign_id: int, island: int, candidate_id: int, via: str,
                    event_id: int | None) -> int | None:
    exists = s.scalar(
        sa.select(Membership.id).where(
            Membership.campaign_id == campaign_id,
            Membership.island == island,
            Membership.candidate_id == candidate_id,
        )
    )
    if exists is not None:
        return None
    m = Membership(campaign_id=campaign_id, island=island, candidate_id=candidate_id, via=via, event_id=event_id)
    s.add(m)
    s.flush()
    return m.id


def record_migration(db: Database, campaign_id: int, source: int, target: int, round_no: int,
                     ids: list[int]) -> int:
    """A migration round: its event and the migrants' memberships of the target island, in one transaction
    (a resume counts the rounds by their events, so an event without its memberships would lose them)."""
    with db.session() as s, s.begin():
        e = Event(campaign_id=campaign_id, kind="migration",
                  payload={"from": source, "to": target, "round": round_no, "candidates": list(ids)})
        s.add(e)
        s.flush()
        for cid in ids:
            _add_membership(s, campaign_id, target, cid, "migration", e.id)
        return e.id
