"""The values the lineage hands out: a candidate, a candidate with its files and evaluations, a campaign.

Frozen dataclasses, the one shape of each concept across module boundaries: the campaign's in-memory
view (evolve/population.py) holds `Candidate`s and replaces them on each change; the readers in
queries.py return them; `to_dict()` gives the JSON the query commands print.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from evolve.kinds import CandidateStatus, Operator, candidate_status, operator
from scoring.result import ScoreResult


@dataclass(frozen=True)
class Candidate:
    id: int
    island: int  # island of birth
    parent_id: int | None
    parent2_id: int | None
    operator: Operator
    persona: str | None
    status: CandidateStatus  # plain strings given here become the enums they name (unknown ones raise)
    reason: str = ""
    fitness: float | None = None  # mean best_vloss of the ok evaluations; None unless status is ok
    summary: str = ""  # what the reply said it changed
    model: str | None = None
    generation: int = 0
    event_no: int = 0
    code_hash: str | None = None  # None for a rejected duplicate
    created_at: datetime | None = None
    finished_at: datetime | None = None
    train_flops: float | None = None  # mean training FLOPs of the ok evaluations (the Pareto objective's cost)
    prune_reference: int | None = None  # the island's best when it was proposed (the curve pruning compares)
    chosen_after: int | None = None  # the campaign's finished evaluations when its parent was chosen
    staleness: int | None = None  # evaluations finished between that choice and the start of its own first one
    depth: int | None = None  # set by lineage walks: the distance from the candidate the walk started at

    def __post_init__(self) -> None:
        object.__setattr__(self, "operator", operator(self.operator))
        object.__setattr__(self, "status", candidate_status(self.status))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredEvaluation:
    """One evaluation as stored: the scorer's result and when it was recorded."""

    result: ScoreResult
    created_at: datetime | None = None
    finished_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.result.to_dict()
        for name in NOT_STORED:
            d.pop(name, None)
        return {**d, "created_at": self.created_at, "finished_at": self.finished_at}


@dataclass(frozen=True)
class Membership:
    island: int
    via: str  # seed | birth | migration
    joined_at: datetime


@dataclass(frozen=True)
class CandidateDetail:
    """One candidate with its files, evaluations (by seed), island memberships and LLM cost."""

    candidate: Candidate
    files: dict[str, str]
    evaluations: tuple[StoredEvaluation, ...]
    memberships: tuple[Membership, ...]
    llm_calls: int
    llm_cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        c = self.candidate.to_dict()
        c.pop("depth")
        return {**c, "files": dict(self.files), "evaluations": [e.to_dict() for e in self.evaluations],
                "memberships": [asdict(m) for m in self.memberships], "llm_calls": self.llm_calls,
                "llm_cost_usd": self.llm_cost_usd}


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    name: str
    task_name: str
    task_path: str
    config: dict[str, Any]
    seed: int
    status: str
    islands: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NOT_STORED = ("trusted_s", "scoring_rss_mb")  # the harness's own costs, reported by `evolve score`, not kept
SCORE_FIELDS = tuple(f.name for f in fields(ScoreResult) if f.name not in NOT_STORED)  # the stored ones


@dataclass(frozen=True)
class StatusSummary:
    """What `evolve status` shows, all counted from rows."""

    campaign: CampaignInfo
    by_status: dict[str, int]  # candidates by status
    evaluations_by_status: dict[str, int]
    best: Candidate | None
    llm_calls: int
    llm_errors: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    stop_reason: str | None  # why it ended, or why proposals stopped while the queue trains
    events: dict[str, int]  # by kind
    # The median over started candidates of the evaluations that finished between the choice of a candidate's
    # parent and the start of its own first evaluation: how stale the population its proposals saw was.
    median_staleness: float | None = None

    @property
    def candidates(self) -> int:
        return sum(self.by_status.values())

    @property
    def evaluations(self) -> int:
        return sum(self.evaluations_by_status.values())

    def to_dict(self) -> dict[str, Any]:
        c, b = self.campaign, self.best
        return {"campaign": c.name, "task": c.task_name, "status": c.status, "seed": c.seed, "islands": c.islands,
                "created_at": c.created_at, "updated_at": c.updated_at, "candidates": self.candidates,
                "by_status": dict(self.by_status), "evaluations": self.evaluations,
                "evaluations_by_status": dict(self.evaluations_by_status),
                "best": None if b is None else {"id": b.id, "fitness": b.fitness, "island": b.island,
                                                "persona": b.persona, "operator": b.operator},
                "llm_calls": self.llm_calls, "llm_errors": self.llm_errors, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "cost_usd": self.cost_usd, "stop_reason": self.stop_reason,
                "median_staleness": self.median_staleness, "events": dict(self.events)}
