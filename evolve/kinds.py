"""The names campaigns decide on and rows store, defined once: operators, a candidate's queue states, campaign
statuses and event kinds.

StrEnums, so they are stored, printed and compared as the plain strings they stand for. The statuses an
evaluation can end with are scoring's (`scoring.result.Status`); the causes a campaign ends with are
`evolve.outcome.Stop`; why a proposal gave nothing to train is `Rejection` (below).
"""

from __future__ import annotations

from enum import StrEnum

from scoring.result import Status


class Operator(StrEnum):
    SEED = "seed"  # a starting program (the task's seed, or one imported with --from)
    MUTATE = "mutate"
    CROSSOVER = "crossover"
    REPAIR = "repair"


class Queued(StrEnum):
    """A candidate's status before it has a final one (a scoring.result.Status)."""

    PENDING = "pending"  # proposed, screened, waiting for a slot
    RUNNING = "running"  # being evaluated


CandidateStatus = Queued | Status


def _named(kinds: tuple[type[StrEnum], ...], value: str, what: str) -> StrEnum:
    # A programming error, not user input: a typo here would silently split statistics.
    for kind in kinds:
        if value in kind._value2member_map_:
            return kind(value)
    allowed = ", ".join(v for kind in kinds for v in kind._value2member_map_)
    raise ValueError(f"unknown {what} {value!r}; expected one of {allowed}")


def operator(value: str) -> Operator:
    """The Operator a stored name names (an unknown one raises ValueError)."""
    return _named((Operator,), value, "operator")


def candidate_status(value: str) -> CandidateStatus:
    """The enum a stored status names (an unknown one raises ValueError)."""
    return _named((Queued, Status), value, "candidate status")


class CampaignStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"  # by the user, or by the progress guard; `evolve resume` goes on
    FINISHED = "finished"
    FAILED = "failed"  # the starting program failed


class EventKind(StrEnum):
    """What the events table records about a campaign (candidates and evaluations have tables of their own)."""

    LAUNCH = "launch"
    RESUME = "resume"
    INTERRUPTION = "interruption"
    MIGRATION = "migration"
    CONFIRMATION = "confirmation"
    BUDGET_REACHED = "budget_reached"
    FINISHED = "finished"
    RETRY = "retry"  # an executor re-ran an evaluation whose worker died
    NO_PROGRESS = "no_progress"  # the progress guard stopped the proposals
    PROPOSAL_SKIPPED = "proposal_skipped"  # a proposal that made no LLM call (its prompt could not be built)


class Rejection(StrEnum):
    """Why a proposal gave nothing to train: the screen's verdicts (the first five and `edit_mismatch`), a prompt
    that could not be built, a failed LLM call. A rejected candidate's reason starts with it; the progress guard
    counts it."""

    UNPARSEABLE = "unparseable"
    SYNTAX_ERROR = "syntax_error"
    NO_OP = "no_op"
    DUPLICATE = "duplicate"
    CONSTRAINT_VIOLATION = "constraint_violation"
    PROMPT_TOO_LONG = "prompt_too_long"
    LLM_ERROR = "llm_error"
    EDIT_MISMATCH = "edit_mismatch"  # an edit reply's SEARCH text matches nothing or several places, or no file


class ReplyFormat(StrEnum):
    """What a prompt asks the reply to be (`[llm] reply_format`; "mixed" draws one of these per proposal)."""

    FULL = "full"  # every changed file whole
    EDITS = "edits"  # SEARCH/REPLACE edits per file (evolve/operators/edits.py)
