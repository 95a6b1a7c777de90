"""Campaign test helpers: a campaign folder per test, and a rigged evaluation executor.

The rigged executor replaces training (seconds) with a loss the test decides, so the loop's logic
(confirmation, migration, budgets, the bandit) can be checked exactly. End-to-end tests use the real
local executor and real sandboxed training with the smoke budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from evolve import config as cfgmod
from evolve.executors import Job
from scoring.result import INTERRUPTED, OK, ScoreResult
from tests.conftest import TASK_DIR


class RiggedExecutor:
    name = "rigged"

    def __init__(self, loss: Callable[[Job], float], slots: int = 1, delay_s: float = 0.0):
        self.loss, self.slots, self.delay_s = loss, slots, delay_s
        self.stop_now = threading.Event()
        self.jobs: list[tuple[int, int]] = []
        self._pool = ThreadPoolExecutor(max_workers=slots)

    def _run(self, job: Job) -> ScoreResult:
        t_end = time.monotonic() + self.delay_s
        while time.monotonic() < t_end:
            if self.stop_now.is_set():
                return ScoreResult(INTERRUPTED, "stopped", job.seed)
            time.sleep(0.01)
        v = self.loss(job)
        return ScoreResult(OK, "", job.seed, best_vloss=v, returned_vloss=v, test_loss=v + 0.01, wall_s=self.delay_s)

    def submit(self, slot: int, job: Job) -> Future:
        self.jobs.append((job.candidate_id, job.seed))
        return self._pool.submit(self._run, job)

    def take_events(self) -> list:
        return []

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder: campaigns land in ./populations/ as for a user."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def settings(**sections) -> cfgmod.CampaignConfig:
    base = {"task": str(TASK_DIR), "evaluation": {"smoke": True}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return cfgmod.validate(base)
