"""The values that cross the process boundaries inside one evaluation, with their strict wire form.

The controller (scoring/api.py) hands each child its job: the candidate's process a `RunnerJob`
(scoring/runner.py), each fresh process of the final evaluation an `EvaluatorJob` (scoring/evaluator.py),
the trusted referee a `RefereeJob` (scoring/referee.py); `evolve task check` hands a `FrozenRunJob` to
scoring/frozen_run.py. The referee hands back one `Verdict`. Each is written with `to_wire()` and read with
`from_wire()`, which refuses an unknown key, a missing one or a value of the wrong type (strict.Mismatch):
the controller treats a verdict it cannot read as no verdict, as it does one that is not JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.prune import Rule
from scoring.result import Status
from scoring.strict import WireForm


@dataclass(frozen=True)
class RunnerJob(WireForm):
    """What the candidate's process needs before any candidate code runs (a file it deletes once read)."""

    run_dir: str
    entry_module: str
    entry_function: str
    eval_function: str
    batch_function: str
    device_name: str
    frozen_names: tuple[str, ...]
    frozen_source: str
    mem_limit_mb: int | None
    file_limit_mb: int
    namespaces: bool  # whether it runs in fresh namespaces, where it locks its file systems down
    writable: tuple[str, ...]
    readable: tuple[str, ...]
    secret_files: tuple[str, ...]  # the dataset's files it must not see: it reports whether it can


@dataclass(frozen=True)
class EvaluatorJob(WireForm):
    """What one fresh process of the final evaluation needs."""

    run_dir: str
    readable: tuple[str, ...]
    namespaces: bool
    mem_limit_mb: int | None
    file_limit_mb: int
    count_flops: bool  # the first one counts the forward pass's FLOPs


@dataclass(frozen=True)
class RefereeJob(WireForm):
    """What the trusted referee needs: its sockets, the frozen block and the names in it, the data."""

    fd: int
    evaluator_fds: tuple[int, ...]
    frozen_source: str
    spawned_at: float  # when the candidate's process was started (time.time()), for its startup time
    eval_function: str
    batch_function: str
    budget_name: str
    max_evals_name: str
    context_name: str
    batch_size_name: str
    vocab_name: str
    eval_iters_name: str
    val_path: str
    fitness_start: int  # where the validation split's fitness part begins (scoring/data.py)
    test_path: str
    dtype: str
    max_train_flops: float | None
    max_train_seconds: float | None
    prune: Rule | None  # the reference curve to stop the training against (scoring/prune.py)


@dataclass(frozen=True)
class FrozenRunJob(WireForm):
    """What scoring/frozen_run.py runs: the frozen block alone, and the names it reads after it."""

    frozen_source: str
    settings: tuple[str, ...]
    batch_function: str
    eval_function: str
    vocab_name: str


@dataclass(frozen=True)
class Confinement(WireForm):
    """What the candidate's process reported of its confinement, before any candidate code ran."""

    fs_readonly: bool | None = None  # None: it had no namespaces to lock down
    data_hidden: bool | None = None
    confine_failures: tuple[str, ...] = ()
    syscalls_denied: bool | None = None  # scoring/syscalls.py's filter installed (None: not reported)

    @classmethod
    def from_hello(cls, header: dict) -> Confinement:
        """From the runner's `hello` message, each fact kept only when it has its type."""
        failures = header.get("confine_failures")
        failures = tuple(str(f)[:300] for f in failures[:5]) if isinstance(failures, list) else ()
        return cls(_flag(header.get("fs_readonly")), _flag(header.get("data_hidden")), failures,
                   _flag(header.get("syscalls_denied")))


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True)
class Verdict(WireForm):
    """The referee's verdict on one evaluation, and the figures it counted and measured itself.

    `finished` is False when the candidate's process ended before the referee could decide (then the
    controller says why: a timeout, a crash, an exit); `status` is None then.
    """

    finished: bool = False
    status: Status | None = None
    reason: str = ""
    steps: int = 0  # training batches served
    vloss_history: tuple[float | None, ...] = ()  # the monitoring losses, None where one was not finite
    vloss_steps: tuple[int, ...] = ()  # training batches served before each
    best_vloss: float | None = None  # the fitness
    returned_vloss: float | None = None  # what train() claimed
    test_loss: float | None = None
    elapsed_s: float | None = None  # train() on the referee's clock
    startup_s: float | None = None
    final_eval_s: float | None = None
    peak_mem_mb: float | None = None  # as the candidate's process reported it
    device: str | None = None  # as the candidate's process reported it, before candidate code ran
    confinement: Confinement | None = None
    step_flops: float | None = None
    train_flops: float | None = None
    referee_s: float | None = None
    referee_rss_mb: float | None = None
