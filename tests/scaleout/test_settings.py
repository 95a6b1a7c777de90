"""The two scale-out settings: `evaluation.executor` and `evaluation.ray_address`, strictly validated, kept
with the campaign, and reaching the executor that `evolve launch` builds."""

from __future__ import annotations

import pytest

from evolve import config as cfgmod
from evolve.executors import LocalExecutor
from evolve.launch import local_executor
from scoring.errors import InputError
from tests.conftest import TASK_DIR
from tests.helpers import run_cli


def test_default_is_the_local_executor(task):
    cfg = cfgmod.validate({})
    assert cfg.evaluation.executor == "local" and cfg.evaluation.ray_address is None
    executor = local_executor(task, cfg)
    try:
        assert isinstance(executor, LocalExecutor)
    finally:
        executor.shutdown()


def test_ray_settings_are_validated():
    cfg = cfgmod.validate({"evaluation": {"executor": "ray", "ray_address": "head:6379"}})
    assert (cfg.evaluation.executor, cfg.evaluation.ray_address) == ("ray", "head:6379")
    with pytest.raises(InputError, match="evaluation.executor"):
        cfgmod.validate({"evaluation": {"executor": "kubernetes"}})
    with pytest.raises(InputError, match="ray_address is only used with executor"):
        cfgmod.validate({"evaluation": {"ray_address": "head:6379"}})  # would be silently ignored otherwise
    with pytest.raises(InputError, match="ray_address"):
        cfgmod.validate({"evaluation": {"executor": "ray", "ray_address": ""}})


def test_ray_settings_survive_the_campaign_toml(tmp_path):
    """campaign.toml is what a user edits and passes back with --config: the executor must round-trip."""
    cfg = cfgmod.validate({"evaluation": {"executor": "ray", "ray_address": "auto", "workers": 4}})
    path = tmp_path / "campaign.toml"
    path.write_text(cfgmod.to_toml(cfg))
    assert cfgmod.load(path) == cfg


def test_launch_refuses_a_bad_executor_before_writing_anything(tmp_path):
    r = run_cli("launch", "--task", str(TASK_DIR), "--name", "bad", "--smoke", "--executor", "slurm", cwd=tmp_path)
    assert r.returncode == 2 and "evaluation.executor" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("launch", "--task", str(TASK_DIR), "--name", "bad", "--smoke", "--ray-address", "auto", cwd=tmp_path)
    assert r.returncode == 2 and "ray_address" in r.stderr
    assert not (tmp_path / "populations" / "bad").exists()
