"""The Ray executor on a real Ray cluster: a smoke campaign to its budget through `evolve launch`, with one
Ray worker SIGKILLed mid-evaluation; and a stop that cancels a running evaluation on the cluster."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from evolve.executors import Job
from evolve.ray_executor import MAX_RETRIES, MPS_RESOURCE, RayExecutor, evaluation_resources
from scoring.result import CRASHED, INTERRUPTED
from tests.conftest import TASK_DIR
from tests.helpers import EVOLVE, run_cli
from tests.scaleout.conftest import RayHead, descends_from, processes


def _evaluating_worker(head: RayHead) -> tuple[int, int] | None:
    """(Ray worker pid, sandboxed runner pid) of an evaluation of this cluster that is training right now."""
    workers = [pid for pid, cmd in processes("ray::evaluate_in_worker") if descends_from(pid, head.pid)]
    for runner, _ in processes("scoring.runner"):
        for worker in workers:
            if descends_from(runner, worker):
                return worker, runner
    return None


def test_resources_follow_what_the_cluster_offers():
    assert evaluation_resources({"CPU": 16, "GPU": 4}, workers=4) == {"num_gpus": 1, "num_cpus": 1}
    assert evaluation_resources({"CPU": 10, MPS_RESOURCE: 2}, workers=2) == {"resources": {MPS_RESOURCE: 1},
                                                                             "num_cpus": 1}
    assert evaluation_resources({"CPU": 8}, workers=2) == {"num_cpus": 4}  # an equal share of the cores
    assert evaluation_resources({"CPU": 2}, workers=4) == {"num_cpus": 1}


@pytest.mark.slow
def test_smoke_campaign_on_ray_survives_a_killed_worker(ray_head: RayHead, tmp_path: Path):
    budget = 3
    proc = subprocess.Popen(
        [EVOLVE, "launch", "--task", str(TASK_DIR), "--name", "onray", "--smoke", "--max-evals", str(budget),
         "--islands", "1", "--confirm-seeds", "0", "--workers", "2", "--executor", "ray",
         "--ray-address", ray_head.address, "--json"],
        cwd=tmp_path, env={**os.environ, **ray_head.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            found = _evaluating_worker(ray_head)
            if found:
                killed = found[0]
                os.kill(killed, signal.SIGKILL)  # the worker dies mid-evaluation, as on a lost or OOM-killed node
            time.sleep(0.2)
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "no Ray worker was seen running a sandboxed evaluation"
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "finished" and result["evaluations"] == budget

    folder = tmp_path / "populations" / "onray"
    with sqlite3.connect(f"file:{folder / 'lineage.db'}?mode=ro", uri=True) as con:
        rows = con.execute("select candidate_id, seed, status from evaluations").fetchall()
        retries = [json.loads(p) for (p,) in con.execute("select payload from events where kind = 'retry'")]
        kinds = [k for (k,) in con.execute("select kind from events order by id")]
    assert len(rows) == budget and len({(c, s) for c, s, _ in rows}) == budget  # none lost, none twice
    assert len(retries) == 1, retries
    retry = retries[0]
    assert retry["attempt"] == 1 and "WorkerCrashedError" in retry["error"]
    assert (retry["candidate"], retry["seed"], "ok") in rows  # the re-run gave the evaluation its result
    assert Path(retry["failed_workdir"]).is_dir()  # the dead attempt's logs stay as evidence
    assert retry["retry_workdir"].endswith("-retry1") and (Path(retry["retry_workdir"]) / "stdout.log").is_file()
    assert kinds.index("retry") < kinds.index("finished")


@pytest.mark.slow
def test_stop_now_cancels_the_evaluation_on_the_cluster(ray_head: RayHead, task, tmp_path: Path):
    import ray  # this process joins with the token tests/scaleout/conftest.py put in its environment

    executor = RayExecutor(task, workers=1, smoke=True, timeout_s=300, address=ray_head.address)
    try:
        fut = executor.submit(0, Job(1, 1337, dict(task.seed_files), str(tmp_path / "run")))
        deadline = time.monotonic() + 90
        while (found := _evaluating_worker(ray_head)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert found is not None, "the evaluation never started on the cluster"
        stopped_at = time.monotonic()
        executor.stop_now.set()
        result = fut.result(timeout=60)
        assert result.status == INTERRUPTED
        assert time.monotonic() - stopped_at < 30  # cancelled, not trained to its end
        runner = found[1]
        for _ in range(50):  # the sandboxed child is killed with the task, not left training
            if not Path(f"/proc/{runner}").exists() or "scoring.runner" not in _cmdline(runner):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the sandboxed child outlived its cancelled Ray task")
    finally:
        executor.shutdown()
        ray.shutdown()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_unreachable_cluster_is_refused_before_anything_is_written(tmp_path: Path):
    with socket.socket() as s:  # a port that was free a moment ago: nobody answers there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    r = run_cli("launch", "--task", str(TASK_DIR), "--name", "nohead", "--smoke", "--executor", "ray",
                "--ray-address", f"127.0.0.1:{port}", cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "cannot reach a Ray cluster" in r.stderr, r.stderr
    assert time.monotonic() - started < 60  # refused, not retried for minutes
    assert not (tmp_path / "populations" / "nohead").exists()


@pytest.mark.slow
def test_a_node_without_the_dataset_is_retried_then_reported(ray_head: RayHead, task, tmp_path: Path):
    """Bounded: a node that cannot evaluate gives `crashed` with the reason after MAX_RETRIES, never a loop."""
    import ray

    elsewhere = dataclasses.replace(task, dataset="not_prepared_on_any_node")
    executor = RayExecutor(elsewhere, workers=1, smoke=True, timeout_s=60, address=ray_head.address)
    try:
        result = executor.submit(0, Job(7, 1337, dict(task.seed_files), str(tmp_path / "run"))).result(timeout=120)
        events = executor.take_events()
    finally:
        executor.shutdown()
        ray.shutdown()
    assert result.status == CRASHED and "not prepared" in result.reason and str(MAX_RETRIES + 1) in result.reason
    assert [(k, e["candidate"], e["attempt"]) for k, e in events] == [("retry", 7, i + 1) for i in range(MAX_RETRIES)]
    assert all(e["error"].startswith("InputError: dataset") for _, e in events)
