"""The progress guard: a campaign whose proposals keep giving nothing to train slows down, then stops.

A proposal is fruitful when it queues a new candidate. Every other end is fruitless and has a cause (an
`evolve.kinds.Rejection`): the reply was rejected (did not parse, a syntax error, changed nothing, a
duplicate of an earlier program), broke the task's constraints, the prompt could not be built, or the LLM
call failed. One such proposal is normal (a good model's replies are rejected now and then) and the next
goes at once: a slot with nothing queued would otherwise sit idle through the wait. From the second in a
row on, the next proposal waits (`backoff_s`, doubling, at most BACKOFF_CAP_S), so a fast endpoint that
only answers duplicates cannot take the CPU from a training; a fruitful proposal resets the streak.

The proposals stop when the streak reaches `max_fruitless`, or sooner when the last
MAX_FAILED_CALLS_IN_A_ROW calls all failed (the endpoint, not the model, is the problem). The reason
names the causes and their counts, dominant first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from evolve.kinds import Rejection

BACKOFF_CAP_S = 10.0
MAX_FAILED_CALLS_IN_A_ROW = 10


_SAID = {
    Rejection.DUPLICATE: "duplicates of earlier programs",
    Rejection.NO_OP: "changed nothing but comments or formatting",
    Rejection.UNPARSEABLE: "could not be parsed",
    Rejection.SYNTAX_ERROR: "had syntax errors",
    Rejection.CONSTRAINT_VIOLATION: "broke the frozen protocol",
    Rejection.PROMPT_TOO_LONG: "prompts too long to send",
    Rejection.LLM_ERROR: "failed LLM calls",
    Rejection.EDIT_MISMATCH: "had edits that did not apply",
}


@dataclass
class ProgressGuard:
    max_fruitless: int
    backoff_s: float
    streak: list[Rejection] = field(default_factory=list)
    last_error: str = ""

    def fruitful(self) -> None:
        self.streak.clear()

    def fruitless(self, cause: Rejection, detail: str = "") -> None:
        if not isinstance(cause, Rejection):  # a bare string would be a second, unchecked list of kinds
            raise TypeError(f"a fruitless proposal's cause is a Rejection, not {cause!r}")
        self.streak.append(cause)
        if cause is Rejection.LLM_ERROR:
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
        if len(tail) == MAX_FAILED_CALLS_IN_A_ROW and all(c is Rejection.LLM_ERROR for c in tail):
            return f"the last {len(tail)} LLM calls failed (last error: {self.last_error[:200]})"
        if len(self.streak) < self.max_fruitless:
            return None
        parts = ", ".join(f"{n} {_SAID[c]}" for c, n in Counter(self.streak).most_common())
        return f"no progress: the last {len(self.streak)} proposals gave nothing to train ({parts})"
