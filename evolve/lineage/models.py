"""The lineage schema as typed SQLAlchemy 2.0 models. Alembic migrations (beside this file) create it.

Nothing is ever deleted from these tables except a campaign lease: history is the product. All times
are naive UTC. Large logs stay on disk; an evaluation row keeps paths and a bounded tail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """Naive UTC: SQLite has no time zones, so both engines store the same wall-clock value."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    task_name: Mapped[str] = mapped_column(String(200))
    task_path: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # the settings it was launched with, as given
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Island(Base):
    __tablename__ = "islands"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    island: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Blob(Base):
    """File contents keyed by sha256: an unchanged `train_mps.py` is stored once per database."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        # The island of birth must exist in the same campaign.
        ForeignKeyConstraint(["campaign_id", "island"], ["islands.campaign_id", "islands.island"]),
        # Exact duplicates are never trained twice; a rejected duplicate is stored without a hash.
        UniqueConstraint("campaign_id", "code_hash", name="uq_candidates_campaign_code_hash"),
        # Resume derives randomness from (campaign seed, event number): one candidate per number.
        UniqueConstraint("campaign_id", "event_no", name="uq_candidates_campaign_event_no"),
        # `top`: ok candidates by fitness straight from the index.
        Index("ix_candidates_top", "campaign_id", "status", "fitness"),
        # Covering indexes: credit per (persona, operator) and counts per island never read table rows.
        Index("ix_candidates_credit", "campaign_id", "persona", "operator", "status", "fitness", "parent_fitness"),
        Index("ix_candidates_island", "campaign_id", "island", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    island: Mapped[int] = mapped_column(Integer)
    # Descendant queries walk children from both parent columns.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id"), index=True)
    parent2_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id"), index=True)
    operator: Mapped[str] = mapped_column(String(32))
    persona: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    generation: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")  # what the reply says it changed (prompt context)
    fitness: Mapped[float | None] = mapped_column(Float)  # lower is better; mean best_vloss of ok evaluations
    train_flops: Mapped[float | None] = mapped_column(Float)  # mean over its ok evaluations (revision 0003)
    # The island's best when it was proposed: the curve pruning holds its first evaluation to (revision 0004).
    prune_reference: Mapped[int | None] = mapped_column(Integer)
    # How stale the population its parent was chosen from was (revision 0005): the campaign's finished
    # evaluations when the parent was chosen, and how many more had finished when its first evaluation began.
    chosen_after: Mapped[int | None] = mapped_column(Integer)
    staleness: Mapped[int | None] = mapped_column(Integer)
    # The first parent's fitness, kept equal to it by record.finish_candidate: persona credit over 100k
    # candidates is then one covering-index scan instead of a self-join.
    parent_fitness: Mapped[float | None] = mapped_column(Float)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    # Where a campaign's starting candidate came from when it was taken from another campaign (`launch
    # --from`): {"db": url, "campaign": name, "candidate": id}. Lineage walks continue there.
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    event_no: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class CandidateFile(Base):
    __tablename__ = "candidate_files"

    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)


class Evaluation(Base):
    """One run of one candidate on one seed: the fields of a `scoring.result.ScoreResult`."""

    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("candidate_id", "seed", name="uq_evaluations_candidate_seed"),
        # Counts by status and the finished (candidate, seed) pairs, without reading log tails.
        Index("ix_evaluations_status", "candidate_id", "status", "seed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    best_vloss: Mapped[float | None] = mapped_column(Float)
    returned_vloss: Mapped[float | None] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)
    vloss_history: Mapped[list[float]] = mapped_column(JSON, default=list)
    vloss_steps: Mapped[list[int] | None] = mapped_column(JSON)  # batches before each (revision 0004)
    steps: Mapped[int | None] = mapped_column(Integer)
    elapsed_s: Mapped[float | None] = mapped_column(Float)
    startup_s: Mapped[float | None] = mapped_column(Float)
    wall_s: Mapped[float | None] = mapped_column(Float)
    peak_mem_mb: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(64))
    # what the training cost (scoring.result.ScoreResult; revision 0002)
    cpu_s: Mapped[float | None] = mapped_column(Float)
    max_rss_mb: Mapped[float | None] = mapped_column(Float)
    step_flops: Mapped[float | None] = mapped_column(Float)
    train_flops: Mapped[float | None] = mapped_column(Float)
    stdout_path: Mapped[str | None] = mapped_column(Text)
    stderr_path: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str] = mapped_column(Text, default="")  # bounded: see constants.LOG_TAIL_CHARS
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class LlmCall(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (
        # Cost and token totals without reading the (large) replies.
        Index("ix_llm_calls_credit", "campaign_id", "persona", "operator", "cost_usd"),
        Index("ix_llm_calls_usage", "campaign_id", "tokens_in", "tokens_out", "cost_usd", "error"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    # A failed call produces no candidate; persona and operator still let its cost be credited.
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("candidates.id"), index=True)
    persona: Mapped[str | None] = mapped_column(String(200))
    operator: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float | None] = mapped_column(Float)
    reply: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Membership(Base):
    """A candidate's presence on an island. A migrant is a second membership, never a copied candidate."""

    __tablename__ = "memberships"
    __table_args__ = (
        ForeignKeyConstraint(["campaign_id", "island"], ["islands.campaign_id", "islands.island"]),
        UniqueConstraint("campaign_id", "island", "candidate_id", name="uq_memberships_island_candidate"),
        Index("ix_memberships_via", "campaign_id", "island", "via"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    island: Mapped[int] = mapped_column(Integer)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"), index=True)
    via: Mapped[str] = mapped_column(String(16))  # seed | birth | migration
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    joined_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Lease(Base):
    """Who runs a campaign. A row, not a lock file, so that it works across machines on PostgreSQL."""

    __tablename__ = "campaign_leases"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
