"""Report fixtures: a real campaign (real loop, offline LLM operator, rigged losses with failures) built
once per session, and a 10,000-candidate database built in bulk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from evolve import lineage
from evolve.executors import Job
from evolve.launch import prepare_launch, run_session
from scoring.result import CRASHED, TIMEOUT, ScoreResult
from tests.campaign.conftest import RiggedExecutor, settings

NAME = "reportfix"
SEED_LOSS = 3.0


def _noise(*key: object) -> float:
    """Deterministic noise in [-0.5, 0.5]: the same campaign on every run."""
    return hashlib.sha256(repr(key).encode()).digest()[0] / 255 - 0.5


class FailingExecutor(RiggedExecutor):
    """Rigged losses, plus crashes and timeouts for some children, so the report has failures to show."""

    def __init__(self, box: dict) -> None:
        super().__init__(self._loss)
        self.box = box

    def _cand(self, cid: int) -> dict:
        s = self.box["session"]
        return lineage.candidate(s.db, s.campaign_id, cid).to_dict()

    def _loss(self, job: Job) -> float:
        c = self._cand(job.candidate_id)
        if c["parent_id"] is None:
            return SEED_LOSS + 0.02 * _noise(job.seed)
        base = self._cand(c["parent_id"])["fitness"] or SEED_LOSS
        return base - 0.01 + 0.03 * _noise(job.candidate_id) + 0.005 * _noise(job.candidate_id, job.seed)

    def _run(self, job: Job) -> ScoreResult:
        if self._cand(job.candidate_id)["operator"] != "seed":
            if job.candidate_id % 6 == 0:
                return ScoreResult(CRASHED, f"RuntimeError: shape mismatch in block {job.candidate_id}", job.seed)
            if job.candidate_id % 11 == 0:
                return ScoreResult(TIMEOUT, "killed at the 60 s limit", job.seed)
        # a training cost of its own per candidate, so the loss-against-compute plane has a front
        return replace(super()._run(job), train_flops=1e9 * (1.5 + _noise("flops", job.candidate_id)))


@dataclass(frozen=True)
class Campaign:
    root: Path  # the folder holding populations/
    name: str
    url: str

    @property
    def folder(self) -> Path:
        return self.root / "populations" / self.name


@pytest.fixture(scope="session")
def campaign(tmp_path_factory) -> Iterator[Campaign]:
    """3 islands, 60 evaluations, confirmations on 2 extra seeds, migrations every 3, crossovers, failures."""
    root = tmp_path_factory.mktemp("report")
    cfg = settings(
        budget={"max_evals": 60},
        islands={"count": 3},
        migration={"interval": 3, "top_k": 1},
        evaluation={"smoke": True, "confirm_seeds": 2},
        llm={"concurrency": 1},  # one proposer: the same campaign on every run
    )
    box: dict = {}
    old = Path.cwd()
    os.chdir(root)  # campaigns land in ./populations/, as for a user
    try:
        session = prepare_launch(cfg, NAME, executor_factory=lambda task, _cfg: FailingExecutor(box))
        box["session"] = session
        run_session(session)
        session.db.close()
    finally:
        os.chdir(old)
    yield Campaign(root, NAME, lineage.sqlite_url(root / "populations" / NAME / "lineage.db"))


@pytest.fixture
def db(campaign) -> Iterator[tuple[lineage.Database, int]]:
    d = lineage.open_db(campaign.url, create=False, readonly=True)
    try:
        yield d, lineage.campaign_id(d, campaign.name)
    finally:
        d.close()
