"""The search-depth benchmark's verdicts (bench/search_depth.py): the goals of #28 are judged from the runs
it holds, as the rules say, and a contestant whose runs ended early is named."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import search_depth as sd  # noqa: E402


def _rows(*bests: float, share: float | None = None) -> list[dict]:
    return [{"best": b, **({"gain_share": share} if share is not None else {})} for b in bests]


def test_ours_is_ahead_only_by_more_than_the_larger_spread_over_seeds():
    ours = _rows(1.90, 1.92, 1.94)  # mean 1.92, sd 0.02
    line = sd.ahead_line(36, {"ours": ours, "best_of_n": _rows(2.30, 2.30, 2.31), "peer": _rows(1.90, 1.95, 2.00)})
    assert "best_of_n: ahead by 0.3833 against a spread of 0.0200, met" in line
    assert "peer: ahead by 0.0300 against a spread of 0.0500, NOT met" in line  # the peer's sd is the larger
    one_seed = sd.ahead_line(36, {"ours": _rows(1.9), "peer": _rows(2.0)})
    assert "peer: n/a (fewer than two seeds)" in one_seed and "met" not in one_seed


def test_the_share_goal_is_the_mean_share_over_seeds():
    line = sd.share_line(72, _rows(1.9, 1.9, share=0.93))
    assert "93% (mean over 2 seed(s))" in line and line.endswith(", met.")
    assert "NOT met" in sd.share_line(72, [{"best": 2.0, "gain_share": 0.95}, {"best": 2.1, "gain_share": 0.80}])
    assert sd.share_line(72, _rows(1.9)).endswith("n/a.")  # no reference: no share to judge


def test_a_contestant_that_ran_short_is_named_with_where_it_stopped():
    runs = [{"contestant": "best_of_n", "evals": [{}] * 42}, {"contestant": "ours", "evals": [{}] * 72},
            {"contestant": "peer", "evals": [{}] * 72}]
    lines = sd.short_lines(runs, 72)
    assert len(lines) == 1 and lines[0].startswith("best_of_n stopped at 42 evaluations of 72")
