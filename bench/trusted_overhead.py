"""Benchmark: what the trusted evaluation costs, side by side with the seed run on its own.

Per seed, in turn: the seed's `train()` run directly (`python -c "import train_mps; train_mps.train()"`,
the frozen block reading the data files itself, no sandbox, no referee), then the same seed scored by
`scoring.api.score()` (sandbox, referee serving every batch and evaluation, final evaluation). Reported:
medians of train() time both ways and their ratio, the referee's final evaluation (fitness, test loss,
probe: from train()'s return to the verdict, in the fresh processes) as a share of the evaluation's wall
time, the startup, and the losses.

    python bench/trusted_overhead.py [--seeds 5] [--smoke] [--json] [--task DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring import data  # noqa: E402
from scoring.api import score  # noqa: E402
from scoring.task import builtin_task_dir, load_task  # noqa: E402

DIRECT = "import time, {m}; t = time.perf_counter(); v, _ = {m}.{f}(); print(v, time.perf_counter() - t)"


def direct(task, seed: int, smoke: bool) -> dict:
    """train() in a plain child process: what a user gets running a checked-out candidate by hand."""
    with tempfile.TemporaryDirectory(prefix="evolve-direct-") as folder:
        for name, text in task.seed_files.items():
            Path(folder, name).write_text(text)
        env = {**os.environ, "EVOLVE_SEED": str(seed), "EVOLVE_SMOKE": "1" if smoke else "0",
               "EVOLVE_DATA_DIR": str(data.dataset(task.dataset).public_dir)}
        t0 = time.perf_counter()
        code = DIRECT.format(m=task.entry_module, f=task.entry_function)
        out = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                             check=True).stdout.split()
    return {"best_monitor_vloss": float(out[-2]), "train_s": float(out[-1]), "wall_s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--task", type=Path, default=None, help="a task folder (default: the built-in task)")
    args = ap.parse_args()
    task = load_task(args.task or builtin_task_dir())
    rows = []
    for seed in range(1, args.seeds + 1):
        d = direct(task, seed, args.smoke)
        r = score({}, task, seed=seed, smoke=args.smoke)
        if not r.ok:
            sys.exit(f"seed {seed}: {r.status}: {r.reason}")
        rows.append({"seed": seed, "direct_train_s": d["train_s"], "direct_wall_s": d["wall_s"],
                     "direct_best_monitor_vloss": d["best_monitor_vloss"],
                     "scored_train_s": r.elapsed_s, "scored_wall_s": r.wall_s, "startup_s": r.startup_s,
                     "trusted_s": r.trusted_s, "best_monitor_vloss": min(r.vloss_history),
                     "fitness": r.best_vloss, "test_loss": r.test_loss})
        print(f"seed {seed}: direct train {d['train_s']:.1f} s, scored train {r.elapsed_s:.1f} s, "
              f"final evaluation {r.trusted_s:.2f} s of {r.wall_s:.1f} s; fitness {r.best_vloss:.4f}", file=sys.stderr)

    def med(key):
        return statistics.median(row[key] for row in rows)

    summary = {
        "seeds": len(rows), "smoke": args.smoke,
        "median_direct_train_s": med("direct_train_s"), "median_scored_train_s": med("scored_train_s"),
        "train_time_ratio": med("scored_train_s") / med("direct_train_s"),
        "median_direct_wall_s": med("direct_wall_s"), "median_scored_wall_s": med("scored_wall_s"),
        "median_startup_s": med("startup_s"), "median_final_evaluation_s": med("trusted_s"),
        "final_evaluation_share_of_wall": statistics.median(r["trusted_s"] / r["scored_wall_s"] for r in rows),
        "median_best_monitor_vloss_direct": med("direct_best_monitor_vloss"),
        "median_best_monitor_vloss_scored": med("best_monitor_vloss"),
        "median_fitness": med("fitness"), "median_test_loss": med("test_loss"),
    }
    if args.json:
        print(json.dumps({"summary": summary, "runs": rows}, indent=2))
    else:
        for k, v in summary.items():
            print(f"{k:34s} {v:.4f}" if isinstance(v, float) else f"{k:34s} {v}")


if __name__ == "__main__":
    main()
