"""The progress guard: a campaign whose proposals keep giving nothing to train slows down, then stops.

A proposal is fruitful when it queues a new candidate. Every other end is fruitless and has a cause: the
reply was rejected (did not parse, a syntax error, changed nothing, a duplicate of an earlier program),
broke the task's constraints, the prompt could not be built, or the LLM call failed. One such proposal
is normal (a good model's replies are rejected now and then) and the next goes at once: a slot with
nothing queued would otherwise sit idle through the wait. From the second in a row on, the next proposal
waits (`backoff_s`, doubling, at most BACKOFF_CAP_S), so a fast endpoint that only answers duplicates
cannot take the CPU from a training; a fruitful proposal resets the streak.

The proposals stop when the streak reaches `max_fruitless`, or sooner when the last
MAX_FAILED_CALLS_IN_A_ROW calls all failed (the endpoint, not the model, is the problem). The reason
names the causes and their counts, dominant first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

BACKOFF_CAP_S = 10.0
MAX_FAILED_CALLS_IN_A_ROW = 10


class Cause(StrEnum):
    """Why a proposal gave nothing to train. The first five are the screen's rejection kinds."""

    DUPLICATE = "duplicate"
    NO_OP = "no_op"
    UNPARSEABLE = "unparseable"
    SYNTAX_ERROR = "syntax_error"
    CONSTRAINT_VIOLATION = "constraint_violation"
    PROMPT_TOO_LONG = "prompt_too_long"
    LLM_ERROR = "llm_error"


_SAID = {
    Cause.DUPLICATE: "duplicates of earlier programs",
    Cause.NO_OP: "changed nothing but comments or formatting",
    Cause.UNPARSEABLE: "could not be parsed",
    Cause.SYNTAX_ERROR: "had syntax errors",
    Cause.CONSTRAINT_VIOLATION: "broke the frozen protocol",
    Cause.PROMPT_TOO_LONG: "prompts too long to send",
    Cause.LLM_ERROR: "failed LLM calls",
}


def cause_of(kind: str) -> Cause:
    """The cause for a screen rejection kind (unknown kinds count as unparseable)."""
    try:
        return Cause(kind)
    except ValueError:
        return Cause.UNPARSEABLE


@dataclass
class ProgressGuard:
    max_fruitless: int
    backoff_s: float
    streak: list[Cause] = field(default_factory=list)
    last_error: str = ""

    def fruitful(self) -> None:
        self.streak.clear()

    def fruitless(self, cause: Cause, detail: str = "") -> None:
        self.streak.append(cause)
        if cause is Cause.LLM_ERROR:
            self.last_error = detail

    def wait_s(self) -> float:
        """How long the next proposal waits."""
        if len(self.streak) < 2:
            return 0.0
        return min(BACKOFF_CAP_S, self.backoff_s * 2.0 ** min(len(self.streak) - 2, 30))

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.streak).most_common())

    def verdict(self) -> str | None:
        """Why proposals must stop now, or None."""
        tail = self.streak[-MAX_FAILED_CALLS_IN_A_ROW:]
        if len(tail) == MAX_FAILED_CALLS_IN_A_ROW and all(c is Cause.LLM_ERROR for c in tail):
            return f"the last {len(tail)} LLM calls failed (last error: {self.last_error[:200]})"
        if len(self.streak) < self.max_fruitless:
            return None
        parts = ", ".join(f"{n} {_SAID[c]}" for c, n in Counter(self.streak).most_common())
        return f"no progress: the last {len(self.streak)} proposals gave nothing to train ({parts})"
