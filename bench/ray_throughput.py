"""Ray executor against the local executor on this machine: campaign throughput and Ray's own overhead.

    python bench/ray_throughput.py [--evals N] [--slots 1,2] [--overhead-reps R]

1. Throughput: a `--smoke` campaign (offline operator, one island, no confirmation seeds) of N evaluations,
   run by the real `evolve launch`, with the local executor (1 slot) and with the Ray executor at each slot
   count, on a one-node Ray cluster started here (`ray start --head`, as many CPUs as the most slots).
   Evaluations per minute = N / wall time of the whole command (controller start-up included); `ok` and
   `train s` (mean train() time of the ok ones) show whether the evaluations really trained.
2. Overhead per evaluation added by Ray: the round trip of an evaluation that the guard rejects before any
   child starts (a syntax error), so only dispatch is timed: local slot thread versus Ray task (files to the
   worker, result back). A trained evaluation costs this much more on Ray than locally.

Slots beyond the machine's cores share them: more slots then add contention, not throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVOLVE = str(Path(sys.executable).with_name("evolve"))
RAY = str(Path(sys.executable).with_name("ray"))
TASK = ROOT / "seeds" / "tasks" / "nanogpt_shakespeare"
# The Ray cluster and every driver share one token, as in docker-compose.yml; set before Ray is imported.
os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_head(cpus: int, temp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = temp / "head.log"
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--port", str(port), "--num-cpus", str(cpus),
                             "--include-dashboard", "false", "--temp-dir", str(temp / "r")],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while "Ray runtime started" not in log.read_text():
        if head.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the Ray head did not start: {log.read_text()[-1500:]}")
        time.sleep(0.5)
    return head, f"127.0.0.1:{port}"


def stop_head(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait()


def campaign(evals: int, slots: int, ray_address: str | None, folder: Path) -> dict:
    args = [EVOLVE, "launch", "--task", str(TASK), "--name", "bench", "--smoke", "--max-evals", str(evals),
            "--islands", "1", "--confirm-seeds", "0", "--workers", str(slots), "--json"]
    if ray_address:
        args += ["--executor", "ray", "--ray-address", ray_address]
    folder.mkdir(parents=True)
    t0 = time.monotonic()
    r = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"campaign failed: {r.stderr[-1500:]}")
    done = json.loads(r.stdout)["evaluations"]
    with sqlite3.connect(f"file:{folder / 'populations' / 'bench' / 'lineage.db'}?mode=ro", uri=True) as con:
        statuses = dict(con.execute("select status, count(*) from evaluations group by status").fetchall())
        train_s = con.execute("select avg(elapsed_s) from evaluations where status = 'ok'").fetchone()[0]
    return {"evals": done, "wall_s": wall, "per_min": 60 * done / wall, "ok": statuses.get("ok", 0),
            "train_s": train_s or 0.0}


def dispatch_overhead(reps: int, ray_address: str) -> tuple[float, float]:
    """Median round trip (ms) of a rejected-before-running evaluation: local slot, then Ray task."""
    import ray

    from evolve.executors import Job, LocalExecutor
    from evolve.ray_executor import RayExecutor
    from scoring.task import load_task

    task = load_task(TASK)
    files = {**task.seed_files, task.frozen.file: task.seed_files[task.frozen.file] + "\n)"}  # syntax error
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        out = []
        for executor in (LocalExecutor(task, 1, True, None), RayExecutor(task, 1, True, None, ray_address)):
            times = []
            for i in range(reps + 1):
                t0 = time.perf_counter()
                result = executor.submit(0, Job(1, 1337 + i, files, f"{tmp}/{executor.name}-{i}")).result()
                if i:  # the first one warms the worker up (a Ray worker imports torch once)
                    times.append(time.perf_counter() - t0)
                assert result.status == "rejected", result
            executor.shutdown()
            out.append(1000 * statistics.median(times))
        ray.shutdown()
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=6)
    # default: 1, 2, 4 ... up to the cores (more slots than cores only add contention, see above)
    parser.add_argument("--slots", default=",".join(str(2 ** i) for i in range(8) if 2 ** i <= (os.cpu_count() or 1)))
    parser.add_argument("--overhead-reps", type=int, default=20)
    opts = parser.parse_args()
    slots = [int(s) for s in opts.slots.split(",")]
    print(f"machine: {os.cpu_count()} CPU(s); smoke campaigns of {opts.evals} evaluations")
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        root = Path(tmp)
        rows = [("local", 1, campaign(opts.evals, 1, None, root / "local-1"))]
        head, address = start_head(max(slots), root)
        try:
            for n in slots:
                rows.append(("ray", n, campaign(opts.evals, n, address, root / f"ray-{n}")))
            local_ms, ray_ms = dispatch_overhead(opts.overhead_reps, address)
        finally:
            stop_head(head)
    print(f"{'executor':<10}{'slots':>6}{'evals':>7}{'ok':>5}{'train s':>9}{'wall s':>9}{'evals/min':>11}")
    for name, n, r in rows:
        print(f"{name:<10}{n:>6}{r['evals']:>7}{r['ok']:>5}{r['train_s']:>9.1f}{r['wall_s']:>9.1f}{r['per_min']:>11.2f}")
    print(f"dispatch round trip (no training), median of {opts.overhead_reps}: local {local_ms:.1f} ms, "
          f"ray {ray_ms:.1f} ms -> Ray adds {ray_ms - local_ms:.1f} ms per evaluation")


if __name__ == "__main__":
    main()
