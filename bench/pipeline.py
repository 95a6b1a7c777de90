"""Benchmark: the campaign pipeline itself, with training replaced by a fixed-length evaluation.

1. Slot utilization: LLM replies through litellm from the loopback server with a fixed latency L, and
   evaluations that take exactly S seconds; the share of wall time the evaluation slots are busy.
2. Controller time per candidate with 10, 1,000 and 10,000 candidates already in the campaign (the seed,
   then bench/fill.py's synthetic candidates written in bulk; instant LLM, instant evaluation): what the
   loop itself costs as the lineage grows, after loading the lineage (load_s, once per resume).

    python bench/pipeline.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench.fill import fill_campaign, timed_resume  # noqa: E402
from evolve import config as cfgmod  # noqa: E402
from evolve.executors import Job  # noqa: E402
from evolve.launch import prepare_launch, run_session  # noqa: E402
from evolve.operators.server import LoopbackServer  # noqa: E402
from scoring.result import OK, ScoreResult  # noqa: E402

TASK = str(REPO / "seeds" / "tasks" / "nanogpt_shakespeare")


class FixedExecutor:
    """Every evaluation takes `seconds` and scores a little better than the last."""

    name = "fixed"

    def __init__(self, seconds: float, slots: int = 1):
        self.seconds, self.slots = seconds, slots
        self.stop_now = threading.Event()
        self.busy_s = 0.0
        self._n = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=slots)

    def _run(self, job: Job) -> ScoreResult:
        t0 = time.perf_counter()
        if self.seconds:
            time.sleep(self.seconds)
        with self._lock:
            self._n += 1
            self.busy_s += time.perf_counter() - t0
            v = 3.0 - 1e-4 * self._n
        return ScoreResult(OK, "", job.seed, best_vloss=v, returned_vloss=v, test_loss=v, wall_s=self.seconds)

    def submit(self, slot: int, job: Job) -> Future:
        return self._pool.submit(self._run, job)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _settings(evals: int, model: dict, concurrency: int = 2) -> cfgmod.CampaignConfig:
    return cfgmod.validate({"task": TASK, "models": [model], "llm": {"concurrency": concurrency},
                            "islands": {"count": 2}, "budget": {"max_evals": evals},
                            "evaluation": {"smoke": True, "confirm_seeds": 0}})


def utilization(latency: float, seconds: float, evals: int) -> dict:
    # enough proposers to cover the LLM latency: ceil(L / S) + 1 calls in flight
    concurrency = int(-(-latency // seconds)) + 1
    with LoopbackServer(latency_s=latency) as server:
        box = {}

        def factory(task, cfg):
            box["ex"] = FixedExecutor(seconds)
            return box["ex"]

        name = f"util-{latency:g}-{seconds:g}-{time.monotonic_ns()}"
        session = prepare_launch(_settings(evals, {"name": "openai/offline", "api_base": server.url}, concurrency),
                                 name, executor_factory=factory)
        t0 = time.perf_counter()
        run_session(session)
        wall = time.perf_counter() - t0
    return {"L_s": latency, "S_s": seconds, "proposers": concurrency, "evals": evals, "wall_s": round(wall, 2),
            "busy_share": round(box["ex"].busy_s / wall, 3)}


def controller_cost(sizes: list[int], extra: int) -> list[dict]:
    rows = []
    for n in sizes:
        name = f"ctl-{n}-{time.monotonic_ns()}"
        session = prepare_launch(_settings(1, {"name": "offline"}), name,
                                 executor_factory=lambda t, c: FixedExecutor(0.0))
        run_session(session)  # the seed's evaluation, then n - 1 more candidates written in bulk
        stored = fill_campaign(session, n - 1)
        wall, load = timed_resume(name, stored + extra, lambda t, c: FixedExecutor(0.0))
        rows.append({"candidates_in_db": n, "new_evaluations": extra, "wall_s": round(wall, 2),
                     "load_s": round(load, 2), "ms_per_evaluation": round(1000 * (wall - load) / extra, 1)})
        print(f"controller with {n} in the database: {rows[-1]['ms_per_evaluation']} ms per evaluation",
              file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a check that the benchmark runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evolve-bench-"))
    os.chdir(work)
    s = 0.2 if args.quick else 1.0
    util = [utilization(s, s, 6 if args.quick else 30), utilization(4 * s, s, 6 if args.quick else 30)]
    for u in util:
        print(f"L={u['L_s']} s, S={u['S_s']} s: slot busy {u['busy_share']:.1%} of {u['wall_s']} s", file=sys.stderr)
    ctl = controller_cost([10, 100] if args.quick else [10, 1000, 10000], 20 if args.quick else 200)
    result = {"utilization": util, "controller": ctl, "workdir": str(work)}
    print(json.dumps(result, indent=2) if args.json else
          "\n".join([json.dumps(u) for u in util] + [json.dumps(c) for c in ctl]))


if __name__ == "__main__":
    main()
