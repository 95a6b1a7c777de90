"""Full-budget val loss of each offline catalog edit against the seed, on the built-in task.

Each edit is applied alone to the seed program and scored through scoring.api.score (the sandboxed
path a campaign uses) on the full budget; a few stacks of edits follow. `--workers N` trains N at a time,
each on cores/N threads, as a campaign's slots do (two one-thread trainings give this 2-core machine
1.2x the throughput of one two-thread training; the losses do not depend on it: the budget is in steps).
Prints one line per run, in order, and appends JSON lines to bench/out/offline_edits.jsonl.

    python bench/offline_edits.py [--edits muon,rope] [--stacks N] [--workers N] [--seed 1337] [--timeout 900]
        [--smoke]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evolve.executors import slot_envs
from evolve.operators.offline.catalog import CATALOG, by_name
from scoring.api import score
from scoring.task import builtin_task_dir, load_task

STACKS = (  # in the order --stacks N takes them
    ("muon", "warmup_cosine", "rope", "rmsnorm"),
    ("muon", "warmup_cosine"),
    ("muon", "warmup_cosine", "rope", "rmsnorm", "relu2", "untie_head", "adamw_betas"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", default="", help="comma-separated edit names (default: all)")
    ap.add_argument("--stacks", type=int, default=len(STACKS), help="how many stacks of edits to score after them")
    ap.add_argument("--smoke", action="store_true", help="tiny training budget: a check that it runs")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--timeout", type=float, default=900.0, help="per run; generous because the CPU is shared")
    ap.add_argument("--out", default="bench/out/offline_edits.jsonl")
    ap.add_argument("--workers", type=int, default=1, help="trainings at a time (threads split between them)")
    args = ap.parse_args()

    task = load_task(builtin_task_dir())
    names = [n for n in args.edits.split(",") if n] or [e.name for e in CATALOG]
    runs: list[tuple[str, ...]] = [()] + [(n,) for n in names] + list(STACKS[:args.stacks])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    envs = slot_envs(args.workers)
    free = list(range(args.workers))

    def run(combo: tuple[str, ...]) -> tuple[dict, float]:
        files = dict(task.seed_files)
        for name in combo:
            files = by_name(name).apply(files) or files
        slot = free.pop()
        t0 = time.time()
        try:
            r = score(files, task, seed=args.seed, smoke=args.smoke, timeout=args.timeout, env=envs[slot])
        finally:
            free.append(slot)
        return r, time.time() - t0

    print(f"{'edits':60s} {'status':8s} {'val loss':>9s} {'vs seed':>8s} {'minutes':>8s}", flush=True)
    base = None
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for combo, (r, wall) in zip(runs, pool.map(run, runs), strict=True):  # results in order
            label = "+".join(combo) or "seed"
            if not combo and r.ok:
                base = r.best_vloss
            delta = f"{r.best_vloss - base:+.4f}" if (r.ok and base is not None) else ""
            loss = f"{r.best_vloss:.4f}" if r.best_vloss is not None else "-"
            print(f"{label:60s} {r.status:8s} {loss:>9s} {delta:>8s} {wall / 60:8.2f}", flush=True)
            with out.open("a") as f:
                f.write(json.dumps({"edits": list(combo), "seed": args.seed, "status": r.status, "reason": r.reason,
                                    "best_vloss": r.best_vloss, "elapsed_s": r.elapsed_s,
                                    "vloss_history": list(r.vloss_history), "vloss_steps": list(r.vloss_steps),
                                    "wall_s": wall,
                                    "workers": args.workers}) + "\n")

if __name__ == "__main__":
    main()
