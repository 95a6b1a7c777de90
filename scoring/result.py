"""The value that crosses the scoring boundary: one evaluation of one candidate on one seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """How an evaluation (and a candidate) ended. A StrEnum: stored and compared as its string."""

    OK = "ok"
    REJECTED = "rejected"  # unparseable reply, syntax error, no-op, duplicate
    CONSTRAINT_VIOLATION = "constraint_violation"  # the guard refused it before it ran
    TIMEOUT = "timeout"  # killed (whole process group) at the wall-clock limit
    CRASHED = "crashed"  # raised, exited, was killed by a signal or a resource limit
    INVALID_RESULT = "invalid_result"  # train() returned something that is not a finite loss, or never evaluated
    INTEGRITY_VIOLATION = "integrity_violation"  # broke the frozen protocol at run time, or lied about its loss
    CAUSAL_LEAK = "causal_leak"  # earlier positions' logits depend on later tokens
    OVER_BUDGET = "over_budget"  # training passed the task's compute cap (max_train_flops / max_train_seconds)
    PRUNED = "pruned"  # stopped early: its curve fell too far behind its island's best (scoring/prune.py)
    INTERRUPTED = "interrupted"  # the controller stopped it (Ctrl-C, shutdown)


OK, REJECTED, CONSTRAINT_VIOLATION = Status.OK, Status.REJECTED, Status.CONSTRAINT_VIOLATION
TIMEOUT, CRASHED, INVALID_RESULT = Status.TIMEOUT, Status.CRASHED, Status.INVALID_RESULT
INTEGRITY_VIOLATION, CAUSAL_LEAK, INTERRUPTED = Status.INTEGRITY_VIOLATION, Status.CAUSAL_LEAK, Status.INTERRUPTED
OVER_BUDGET, PRUNED = Status.OVER_BUDGET, Status.PRUNED
STATUSES = tuple(Status)


@dataclass(frozen=True)
class ScoreResult:
    status: Status  # a plain string given here becomes the Status it names (an unknown one raises)
    reason: str
    seed: int
    # The fitness: the referee's loss of the model train() leaves, on validation windows never sent before.
    best_vloss: float | None = None
    returned_vloss: float | None = None  # what train() claimed: must be the lowest monitoring loss
    test_loss: float | None = None  # the held-out split, the same way; reported, never selected on
    vloss_history: tuple[float, ...] = ()  # the monitoring losses (train()'s own estimate_loss calls)
    vloss_steps: tuple[int, ...] = ()  # the training batches served before each of them (the referee's count)
    steps: int | None = None  # training batches the referee sent
    elapsed_s: float | None = None  # train() wall time on the referee's clock, device synchronized
    startup_s: float | None = None  # child start until train() is called
    wall_s: float | None = None  # the whole evaluation, final evaluation included, measured by the parent
    peak_mem_mb: float | None = None
    device: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    log_tail: str = ""
    notes: tuple[str, ...] = field(default=())  # containment facts worth recording (e.g. no network isolation)
    trusted_s: float | None = None  # from train()'s return to the verdict: the final evaluation in fresh processes
    scoring_rss_mb: float | None = None  # the largest resident set of the referee and the final evaluation's processes
    # What the training cost. CPU seconds and the largest resident set are the parent's accounting of the
    # child (it cannot change them); the FLOPs are 3x torch's count of the trained model's forward pass on
    # one final batch (in the final evaluation's fresh process), scaled to a training batch, times the
    # steps the referee served.
    cpu_s: float | None = None
    max_rss_mb: float | None = None
    step_flops: float | None = None
    train_flops: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vloss_history"] = list(self.vloss_history)
        d["vloss_steps"] = list(self.vloss_steps)
        d["notes"] = list(self.notes)
        return d
