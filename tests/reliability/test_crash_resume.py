"""Crash-resume fuzzing: ten SIGKILLs of a real campaign at random moments, each followed by a resume."""

from __future__ import annotations

import os

import pytest

from tests.reliability.fuzz import MODES, run_fuzz

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.isdir("/proc"), reason="checks processes in /proc")]


def test_ten_kills_lose_nothing_repeat_nothing_and_reach_the_budget(tmp_path):
    report = run_fuzz(tmp_path, kills=10, budget=8)
    assert report.problems == []
    assert len(report.kills) >= 10 and set(report.kills) == set(MODES)
    assert report.resumes == len(report.kills)
    assert report.evaluations == report.budget == report.final["evaluations"]
    assert report.final["status"] == "finished"
