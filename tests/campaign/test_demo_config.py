"""`make demo`'s settings: valid, offline (no key, no network), on the built-in task, bounded in time,
and confirming a new best on a second seed so the improvement it prints is a confirmed one."""

from __future__ import annotations

import re
from pathlib import Path

from evolve import config as cfgmod
from evolve.launch import prepare_launch
from scoring.task import builtin_task_dir

DEMO = Path(__file__).resolve().parents[2] / "seeds" / "campaigns" / "demo.toml"


def test_the_demo_settings_are_offline_bounded_and_confirmed(in_tmp, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    cfg = cfgmod.load(DEMO)
    assert [m.name for m in cfg.models] == ["offline"]
    assert cfg.task is None or Path(cfg.task).resolve() == builtin_task_dir().resolve()
    assert cfg.budget.max_minutes is not None and cfg.budget.max_minutes <= 15
    assert cfg.evaluation.confirm_seeds >= 1 and not cfg.evaluation.smoke
    session = prepare_launch(cfg, "demo-check")  # everything a launch checks up front passes, offline
    assert session.campaign.task.root.resolve() == builtin_task_dir().resolve()
    session.db.close()


def test_the_demo_prunes_only_if_the_side_by_side_benchmark_met_its_goal():
    """BENCHMARKS.md records the demo with pruning off and on; the demo uses pruning only if it paid."""
    text = (DEMO.parents[2] / "BENCHMARKS.md").read_text()
    block = re.search(r"<!-- prune_demo:begin -->(.*?)<!-- prune_demo:end -->", text, re.S)
    assert block, "BENCHMARKS.md has no prune_demo section"
    verdict = re.search(r"goal \(same best in <= 0\.7x\): (met|NOT met)", block.group(1))
    assert verdict, "the prune_demo section states no verdict"
    assert cfgmod.load(DEMO).pruning.enabled == (verdict.group(1) == "met")
