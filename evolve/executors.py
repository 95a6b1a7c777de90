"""Where evaluations run. Every executor calls `scoring.api.score` and hands back a ScoreResult.

`local` (the default) runs one sandboxed child per evaluation slot on this machine, one slot per device:
each CUDA slot pins its GPU, an Apple-silicon slot caps its share of GPU memory, CPU slots split the
cores; `ray` (evolve/ray_executor.py) runs them on a cluster. The campaign loop talks to an executor only
through the `Executor` protocol.
"""

from __future__ import annotations

import glob
import os
import platform
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from scoring.api import score
from scoring.prune import Rule
from scoring.result import ScoreResult
from scoring.task import Task


@dataclass(frozen=True)
class Job:
    candidate_id: int
    seed: int
    files: dict[str, str]
    workdir: str
    prune: Rule | None = None  # the reference curve the referee may stop this training against


class Executor(Protocol):
    name: str
    slots: int  # evaluations at a time
    stop_now: threading.Event  # set: running evaluations are stopped and come back interrupted

    def submit(self, slot: int, job: Job) -> Future[ScoreResult]: ...

    def take_events(self) -> list[tuple[str, dict[str, Any]]]:
        """What happened to the executor's workers since the last call (event kind, payload), to record."""
        ...

    def shutdown(self) -> None: ...


def slot_envs(workers: int) -> list[dict[str, str]]:
    """The device variables of each evaluation slot on this machine."""
    gpus = sorted(glob.glob("/dev/nvidia[0-9]*"))
    if gpus:
        return [{"CUDA_VISIBLE_DEVICES": str(i % len(gpus))} for i in range(workers)]
    if sys.platform == "darwin" and platform.machine() == "arm64":
        ratio = f"{max(0.1, 1.0 / workers):.2f}"
        return [{"PYTORCH_MPS_HIGH_WATERMARK_RATIO": ratio} for _ in range(workers)]
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return [{"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads} for _ in range(workers)]


class LocalExecutor:
    name = "local"

    def __init__(self, task: Task, workers: int, smoke: bool, timeout_s: float | None):
        self.task, self.smoke, self.timeout_s = task, smoke, timeout_s
        self.envs = slot_envs(workers)
        self.slots = workers
        self.stop_now = threading.Event()  # set: running evaluations are killed and come back interrupted
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eval-slot")

    def submit(self, slot: int, job: Job) -> Future[ScoreResult]:
        Path(job.workdir).mkdir(parents=True, exist_ok=True)
        return self._pool.submit(score, job.files, self.task, seed=job.seed, smoke=self.smoke,
                                 workdir=Path(job.workdir), timeout=self.timeout_s, env=self.envs[slot],
                                 stop=self.stop_now, prune=job.prune)

    def take_events(self) -> list[tuple[str, dict[str, Any]]]:
        return []  # a local slot has no worker of its own to lose

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
