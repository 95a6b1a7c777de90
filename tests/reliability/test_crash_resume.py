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
    # every kill is followed by one restart: a resume, or a relaunch of a launch killed before its campaign existed
    assert report.resumes + report.relaunches == len(report.kills) and report.resumes >= len(report.kills) // 2
    assert report.evaluations == report.budget == report.final["evaluations"]
    assert report.final["status"] == "finished"
