"""One transaction of writes: every state change a campaign records, as methods on an open transaction.

    with transaction(db) as tx:
        tx.evaluation(cid, result)
        tx.finish(cid, "ok", "", fitness=2.31, train_flops=None)

This is the one write API. The campaign's ledger (evolve/ledger.py) groups the writes of one decision (an
evaluation and the verdict it leads to, a proposal and its LLM call) into one transaction; launch, imports,
tools and tests open one where they write. record.py adds only what the campaign's view decides and a tool
must decide from rows instead (a new candidate's descent, a finished one's fitness). Core statements on one
connection, no ORM objects: this is the campaign's hot path. The writes store what their caller decided
(with evolve/lineage/facts.py); they decide nothing themselves, and read back only what a caller left out
(whether an evaluation replaces an interrupted one, a linked call's persona and operator).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from evolve.lineage import constants as K
from evolve.lineage.db import Database
from evolve.lineage.facts import Call, NewCandidate, stored
from evolve.lineage.models import (
    Blob,
    Candidate,
    CandidateFile,
    Evaluation,
    Event,
    LlmCall,
    Membership,
    utcnow,
)
from evolve.lineage.models import (
    Campaign as CampaignRow,
)
from evolve.lineage.values import SCORE_FIELDS
from scoring.result import INTERRUPTED, OK, ScoreResult

_C = Candidate.__table__
# Built once: executed with a parameter dict, a statement is compiled once per set of keys and cached;
# `.values(...)` per call would build and compile a new one every time.
_INSERT_CANDIDATE = sa.insert(Candidate).returning(_C.c.id)
_INSERT_MEMBERSHIP = sa.insert(Membership).returning(Membership.id)
_INSERT_EVALUATION = sa.insert(Evaluation)
_INSERT_CALL = sa.insert(LlmCall).returning(LlmCall.id)
_INSERT_EVENT = sa.insert(Event).returning(Event.id)


@contextmanager
def transaction(db: Database) -> Iterator[Transaction]:
    with db.engine.begin() as conn:
        yield Transaction(conn)


class Transaction:
    def __init__(self, conn: sa.Connection):
        self.conn = conn

    def _one(self, stmt) -> Any:
        return self.conn.execute(stmt).scalar()

    # -- candidates -------------------------------------------------------------------------------------

    def _blobs(self, files: Mapping[str, str]) -> dict[str, str]:
        """Insert each distinct content once; concurrent writers of the same content both succeed."""
        hashes = {name: K.sha256_text(text) for name, text in files.items()}
        rows = [{"sha256": h, "size": len(files[n].encode("utf-8")), "content": files[n]} for n, h in hashes.items()]
        if rows:
            insert = postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert
            self.conn.execute(insert(Blob).on_conflict_do_nothing(index_elements=["sha256"]), rows)
        return hashes

    def candidate(self, campaign_id: int, new: NewCandidate) -> int:
        """A candidate, its files and its membership of the island it was born on, as decided (facts.py).
        Nothing is read back: a code hash the campaign already holds fails on its unique constraint (the
        campaign's view decides duplicates; record.add_candidate looks for tools)."""
        K.check(new.operator, K.OPERATORS, "operator")
        K.check(new.status, K.CANDIDATE_STATUSES, "candidate status")
        if new.parent2_id is not None and new.parent_id is None:
            raise ValueError("a second parent needs a first parent")
        cid = self.conn.execute(_INSERT_CANDIDATE, dict(
            campaign_id=campaign_id, island=new.island, parent_id=new.parent_id, parent2_id=new.parent2_id,
            operator=new.operator, persona=new.persona, model=new.model, generation=new.generation,
            status=new.status, reason=new.reason, summary=new.summary,
            origin=dict(new.origin) if new.origin else None, code_hash=new.code_hash, event_no=new.event_no,
            parent_fitness=new.parent_fitness, prune_reference=new.prune_reference,
            chosen_after=new.chosen_after, created_at=utcnow())).scalar_one()
        links = [{"candidate_id": cid, "name": n, "sha256": h} for n, h in self._blobs(new.files).items()]
        if links:
            self.conn.execute(sa.insert(CandidateFile), links)
        self.conn.execute(_INSERT_MEMBERSHIP, dict(
            campaign_id=campaign_id, island=new.island, candidate_id=cid,
            via="seed" if new.operator == "seed" else "birth", event_id=None, joined_at=utcnow()))
        return cid

    def proposal(self, campaign_id: int, call: Call, new: NewCandidate) -> int:
        """The LLM call and the candidate it produced, linked and credited to its persona and operator."""
        cid = self.candidate(campaign_id, new)
        self.llm_call(campaign_id, **call.row(), persona=new.persona, operator=new.operator, candidate_id=cid)
        return cid

    def set_status(self, candidate_id: int, status: str, reason: str | None = None,
                   staleness: int | None = None) -> None:
        """`staleness`: set once, when the candidate's first evaluation starts."""
        K.check(status, K.CANDIDATE_STATUSES, "candidate status")
        values: dict[str, Any] = {"status": status}
        if reason is not None:
            values["reason"] = reason
        if staleness is not None:
            values["staleness"] = staleness
        if status not in (K.PENDING, K.RUNNING):
            values["finished_at"] = utcnow()
        if self.conn.execute(sa.update(Candidate).where(_C.c.id == candidate_id).values(**values)).rowcount != 1:
            raise ValueError(f"no candidate {candidate_id}")

    def finish(self, candidate_id: int, status: str, reason: str, fitness: float | None,
               train_flops: float | None, *, children: bool = True) -> None:
        """Final status, with the fitness and mean training FLOPs decided by facts.py (None unless ok).
        `children=False`: the caller knows the candidate has none whose parent_fitness would follow."""
        K.check(status, K.STATUSES, "final status")
        if status == OK and fitness is None:
            raise ValueError(f"candidate {candidate_id} has no ok evaluation to take its fitness from")
        if status != OK:
            fitness = train_flops = None
        n = self.conn.execute(sa.update(Candidate).where(_C.c.id == candidate_id).values(
            status=status, reason=reason, fitness=fitness, train_flops=train_flops,
            finished_at=utcnow())).rowcount
        if n != 1:
            raise ValueError(f"no candidate {candidate_id}")
        if children:  # children compare themselves with this fitness; a re-averaged one updates them
            self.conn.execute(sa.update(Candidate).where(_C.c.parent_id == candidate_id)
                              .values(parent_fitness=fitness))

    # -- evaluations, calls, events ---------------------------------------------------------------------

    def evaluation(self, candidate_id: int, result: ScoreResult, started_at: datetime | None = None, *,
                   replaces: bool | None = None) -> None:
        """One finished evaluation. An `interrupted` row may be replaced by the re-run of the same seed; any
        other finished (candidate, seed) is never evaluated twice, so a repeat raises ValueError. `replaces`:
        whether an interrupted row of the same seed exists, when the caller knows (None: look)."""
        d = stored(result).to_dict()
        row = {k: d[k] for k in SCORE_FIELDS}
        row.update(finished_at=utcnow(), created_at=started_at or utcnow())
        where = (Evaluation.candidate_id == candidate_id, Evaluation.seed == result.seed)
        if replaces is None:
            prior = self._one(sa.select(Evaluation.status).where(*where))
            if prior is not None and prior != INTERRUPTED:
                raise ValueError(f"candidate {candidate_id} seed {result.seed} is already evaluated ({prior})")
            replaces = prior is not None
        if replaces:
            done = self.conn.execute(sa.update(Evaluation).where(*where, Evaluation.status == INTERRUPTED)
                                     .values(**row)).rowcount
            if done != 1:
                raise ValueError(f"candidate {candidate_id} seed {result.seed} has no interrupted evaluation to "
                                 "replace")
        else:
            self.conn.execute(_INSERT_EVALUATION, {"candidate_id": candidate_id, **row})

    def llm_call(self, campaign_id: int, *, candidate_id: int | None = None, persona: str | None = None,
                 operator: str | None = None, **fields: Any) -> int:
        """One LLM request, recorded even when it failed (`error` set): its cost counts against the budget.
        Linked to a candidate, its persona and operator are the candidate's where left out, so the credit
        statistics read the call row alone."""
        if candidate_id is not None and (persona is None or operator is None):
            row = self.conn.execute(sa.select(_C.c.persona, _C.c.operator).where(_C.c.id == candidate_id)).first()
            if row is None:
                raise ValueError(f"no candidate {candidate_id}")
            persona, operator = persona if persona is not None else row[0], operator or row[1]
        row = {"campaign_id": campaign_id, "created_at": utcnow(), "candidate_id": candidate_id, "persona": persona,
               "operator": operator, **fields}
        return self.conn.execute(_INSERT_CALL, row).scalar_one()

    def event(self, campaign_id: int, kind: str, payload: Mapping[str, Any] | None = None) -> int:
        K.check(kind, K.EVENT_KINDS, "event kind")
        return self.conn.execute(_INSERT_EVENT, dict(
            campaign_id=campaign_id, kind=kind, payload=dict(payload or {}), created_at=utcnow())).scalar_one()

    def campaign_status(self, campaign_id: int, status: str) -> None:
        K.check(status, K.CAMPAIGN_STATUSES, "campaign status")
        self.conn.execute(sa.update(CampaignRow).where(CampaignRow.id == campaign_id).values(
            status=status, updated_at=utcnow()))

    def membership(self, campaign_id: int, island: int, candidate_id: int, via: str = "migration",
                   event_id: int | None = None) -> int | None:
        """Put a candidate on an island (a migrant). Already a member: nothing changes and None is returned,
        since ring migration brings candidates back to islands they already live on."""
        K.check(via, K.VIAS, "membership")
        exists = self._one(sa.select(Membership.id).where(
            Membership.campaign_id == campaign_id, Membership.island == island,
            Membership.candidate_id == candidate_id))
        if exists is not None:
            return None
        return self.conn.execute(_INSERT_MEMBERSHIP, dict(
            campaign_id=campaign_id, island=island, candidate_id=candidate_id, via=via, event_id=event_id,
            joined_at=utcnow())).scalar_one()

    def migration(self, campaign_id: int, source: int, target: int, round_no: int, ids: list[int]) -> int:
        """A migration round: its event and the migrants' memberships of the target island, in the caller's
        one transaction (a resume counts the rounds by their events, so an event without its memberships
        would lose them)."""
        eid = self.event(campaign_id, "migration",
                         {"from": source, "to": target, "round": round_no, "candidates": list(ids)})
        for cid in ids:
            self.membership(campaign_id, target, cid, "migration", eid)
        return eid
