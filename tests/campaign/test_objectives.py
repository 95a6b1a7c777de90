"""The task's objective end to end: a compute cap ends an evaluation `over_budget`; campaigns in each mode
(the loss alone, the loss under a cap, the Pareto front of loss and training FLOPs) run to their budget,
and `top --pareto` lists a front no ok candidate dominates, before and after a resume."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from evolve import pareto
from scoring.api import score
from scoring.result import OK, OVER_BUDGET
from scoring.task import load_task
from tests.conftest import TASK_DIR
from tests.helpers import run_cli

pytestmark = pytest.mark.slow
SEED_SMOKE_FLOPS = 1.060110336e11  # 10 steps of the seed (tests/scoring/test_score.py has the hand count)


def _task(tmp_path: Path, objective: str = "minimize best_vloss", evaluation: str = "") -> Path:
    folder = tmp_path / "task"
    shutil.copytree(TASK_DIR, folder)
    manifest = folder / "task.toml"
    text = manifest.read_text().replace('objective = "minimize best_vloss"', f'objective = "{objective}"')
    manifest.write_text(text.replace("[evaluation]\n", f"[evaluation]\n{evaluation}"))
    return folder


def test_a_compute_cap_ends_the_evaluation_over_budget_with_what_it_reached(tmp_path):
    capped = load_task(_task(tmp_path, evaluation="max_train_flops = 5e10\n"))
    r = score({}, capped, smoke=True)
    # the FLOPs are measured after the training, on the trusted side (the model's forward pass in the final
    # evaluation's fresh process): the training ran its budget, and the verdict says where the cap fell
    assert r.status == OVER_BUDGET and r.steps == 10, r.reason
    assert "10 training steps of 1.06e+10 FLOPs pass max_train_flops=5e+10 (it allows 4)" in r.reason
    assert "lowest validation loss by then" in r.reason and len(r.vloss_history) >= 1 and r.best_vloss is None
    shutil.rmtree(tmp_path / "task")
    slow = load_task(_task(tmp_path, evaluation="max_train_seconds = 0.01\n"))
    r = score({}, slow, smoke=True)
    assert r.status == OVER_BUDGET and "passed max_train_seconds=0.01" in r.reason
    shutil.rmtree(tmp_path / "task")
    roomy = load_task(_task(tmp_path, evaluation=f"max_train_flops = {2 * SEED_SMOKE_FLOPS}\n"))
    assert score({}, roomy, smoke=True).status == OK


def _front_is_non_dominated(folder: Path, front: list[dict]) -> None:
    with sqlite3.connect(f"file:{folder / 'lineage.db'}?mode=ro", uri=True) as con:
        ok = con.execute("select id, fitness, train_flops from candidates where status = 'ok'").fetchall()
    assert ok and all(flops is not None for _, _, flops in ok)  # every ok candidate has its cost
    points = {cid: (f, c) for cid, f, c in ok}
    ids = {row["id"] for row in front}
    assert ids == {list(points)[i] for i in pareto.front(list(points.values()))}


def test_a_pareto_campaign_lists_its_front_and_keeps_it_across_a_resume(tmp_path):
    task = _task(tmp_path, objective="pareto best_vloss train_flops")
    r = run_cli("launch", "--task", str(task), "--name", "front", "--smoke", "--max-evals", "8", "--islands", "1",
                "--confirm-seeds", "1", "--json", cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["evaluations"] == 8
    folder = tmp_path / "populations" / "front"
    top = run_cli("top", "front", "--pareto", "--json", cwd=tmp_path)
    _front_is_non_dominated(folder, json.loads(top.stdout))
    r = run_cli("resume", "front", "--max-evals", "12", "--json", cwd=tmp_path, timeout=900)
    assert r.returncode == 0 and json.loads(r.stdout)["evaluations"] == 12, r.stderr
    after = json.loads(run_cli("top", "front", "--pareto", "--json", cwd=tmp_path).stdout)
    _front_is_non_dominated(folder, after)
    assert "Pareto front" in run_cli("top", "front", "--pareto", cwd=tmp_path).stdout


def test_a_capped_campaign_runs_to_its_budget(tmp_path):
    task = _task(tmp_path, evaluation=f"max_train_flops = {1.3 * SEED_SMOKE_FLOPS}\n")
    r = run_cli("launch", "--task", str(task), "--name", "capped", "--smoke", "--max-evals", "6", "--islands", "1",
                "--confirm-seeds", "1", "--json", cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["evaluations"] == 6
    with sqlite3.connect(f"file:{tmp_path / 'populations' / 'capped' / 'lineage.db'}?mode=ro", uri=True) as con:
        rows = con.execute("select status, train_flops, reason from evaluations").fetchall()
    assert all(s != OK or f <= 1.3 * SEED_SMOKE_FLOPS for s, f, _ in rows)  # nothing ok past the cap
    assert all("max_train_flops" in reason for s, _, reason in rows if s == OVER_BUDGET)
