"""What is decided about a candidate, each fact by one function, and the facts a campaign's view reduces.

Decisions: a new candidate's generation and its first parent's fitness (`descent`), a finished candidate's
fitness and training cost (`fitness`, `mean_flops`), an evaluation as the row keeps it (`stored`). The
campaign (evolve/ledger.py) decides with them from its view; the one-off writers of record.py decide with
the same functions from rows. The database stores the decided values; nothing recomputes them.

Facts: every row a campaign writes has a value here (or is a `values.Candidate`). The ledger writes a row,
then applies the same value to the in-memory view; a resume reads the rows back as the same values
(evolve/lineage/replay.py) and applies them with the same `Population.apply`. So the view is one reduction,
live or rebuilt, never a second decision.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol

from evolve.kinds import CandidateStatus, Operator, Queued, candidate_status, operator
from evolve.lineage.constants import bounded_tail
from evolve.lineage.values import NOT_STORED, Candidate
from scoring.result import OK, ScoreResult


@dataclass(frozen=True)
class NewCandidate:
    """One candidate from the proposal that made it to its row: what the rows of `candidates`,
    `candidate_files` and its birth membership hold, every lineage fact already decided."""

    island: int
    operator: Operator
    files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    persona: str | None = None
    model: str | None = None
    parent_id: int | None = None
    parent2_id: int | None = None
    generation: int = 0
    parent_fitness: float | None = None
    status: CandidateStatus = Queued.PENDING
    reason: str = ""
    code_hash: str | None = None  # None for a rejected one: only a queued program claims its hash
    event_no: int = 0
    summary: str = ""
    origin: Mapping[str, Any] | None = None  # where an imported starting program came from
    prune_reference: int | None = None
    chosen_after: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "operator", operator(self.operator))
        object.__setattr__(self, "status", candidate_status(self.status))

    def stored(self, cid: int) -> Candidate:
        """The candidate as its row reads back."""
        return Candidate(cid, self.island, self.parent_id, self.parent2_id, self.operator, self.persona,
                         self.status, self.reason, None, self.summary, model=self.model,
                         generation=self.generation, event_no=self.event_no, code_hash=self.code_hash,
                         prune_reference=self.prune_reference, chosen_after=self.chosen_after)


@dataclass(frozen=True)
class Call:
    """One LLM call as its row holds it (failed ones too: their cost counts)."""

    model: str
    prompt_hash: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float | None = None
    reply: str | None = None
    error: str | None = None

    def row(self) -> dict[str, Any]:
        return {"model": self.model, "prompt_hash": self.prompt_hash, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "cost_usd": self.cost_usd, "latency_s": self.latency_s,
                "reply": self.reply, "error": self.error}


# -- the facts a view reduces (besides `values.Candidate`, which replaces the candidate it names) -----------


@dataclass(frozen=True)
class Evaluated:
    candidate_id: int
    result: ScoreResult  # as stored (`stored`): an interrupted one is replaced by its seed's re-run


@dataclass(frozen=True)
class Joined:
    candidate_id: int
    island: int


@dataclass(frozen=True)
class Migrated:
    source: int
    round_no: int


@dataclass(frozen=True)
class Confirming:
    """The candidate is to be evaluated on the confirmation seeds."""

    candidate_id: int


@dataclass(frozen=True)
class Spent:
    """One LLM call row."""

    cost_usd: float


Fact = Candidate | Evaluated | Joined | Migrated | Confirming | Spent


# -- the decisions ---------------------------------------------------------------------------------------


class Parent(Protocol):
    """What descent reads of a parent: a view's Candidate, or a row of the candidates table."""

    generation: int
    fitness: float | None


def descent(parents: Sequence[Parent]) -> tuple[int, float | None]:
    """(generation, first parent's fitness): one more than the oldest parent's generation, 0 for a start."""
    return 1 + max((p.generation for p in parents), default=-1), (parents[0].fitness if parents else None)


def _ok(results: Iterable[ScoreResult]) -> list[ScoreResult]:
    return [r for r in results if r.status == OK and r.best_vloss is not None]


def fitness(results: Iterable[ScoreResult]) -> float | None:
    """A candidate's fitness: the mean best validation loss of its ok evaluations (None without one)."""
    losses = [r.best_vloss for r in _ok(results)]
    return statistics.fmean(losses) if losses else None


def mean_flops(results: Iterable[ScoreResult]) -> float | None:
    """The Pareto objective's cost: the mean training FLOPs of the ok evaluations that counted them."""
    flops = [r.train_flops for r in _ok(results) if r.train_flops is not None]
    return statistics.fmean(flops) if flops else None


def stored(result: ScoreResult) -> ScoreResult:
    """The evaluation as its row keeps it: the log tail bounded, the harness's own costs left out."""
    blank = ScoreResult(result.status, "", result.seed)
    return replace(result, log_tail=bounded_tail(result.log_tail or ""),
                   **{name: getattr(blank, name) for name in NOT_STORED})
