"""Benchmark: the built-in seed task on this machine, through the real sandbox.

Per seed: best val loss, test loss, training time, steps/s, tokens/s, and the sandbox's overhead (child
start until train() is called, and whole-child wall time minus train()). Across seeds: the median and
the spread (max - min) of the val loss, which is the noise a campaign's improvement must beat.

    python bench/seed_task.py [--seeds 5] [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.api import score  # noqa: E402
from scoring.task import builtin_task_dir, load_task  # noqa: E402


def _constant(source: str, name: str) -> int:
    """A module-level integer literal of the seed (the frozen context and batch sizes)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    task = load_task(builtin_task_dir())
    seed_text = task.seed_files["train_mps.py"]
    tokens_per_step = _constant(seed_text, "BATCH_SIZE") * _constant(seed_text, "BLOCK_SIZE")

    rows = []
    for seed in range(1, args.seeds + 1):
        r = score({}, task, seed=seed, smoke=args.smoke)
        if not r.ok:
            sys.exit(f"seed {seed}: {r.status}: {r.reason}")
        rows.append({
            "seed": seed, "best_vloss": r.best_vloss, "test_loss": r.test_loss, "train_s": r.elapsed_s,
            "steps_per_s": r.steps / r.elapsed_s, "tokens_per_s": r.steps * tokens_per_step / r.elapsed_s,
            "startup_s": r.startup_s, "overhead_s": r.wall_s - r.elapsed_s, "wall_s": r.wall_s,
        })
        print(f"seed {seed}: val {r.best_vloss:.4f} test {r.test_loss:.4f} train {r.elapsed_s:.1f} s "
              f"wall {r.wall_s:.1f} s startup {r.startup_s:.2f} s", file=sys.stderr)

    def med(key):
        return statistics.median(row[key] for row in rows)

    vl = [row["best_vloss"] for row in rows]
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "torch": torch.__version__, "python": platform.python_version(), "smoke": args.smoke,
        "seeds": len(rows), "median_best_vloss": med("best_vloss"), "vloss_spread": max(vl) - min(vl),
        "vloss_stdev": statistics.stdev(vl) if len(vl) > 1 else 0.0, "median_test_loss": med("test_loss"),
        "median_train_s": med("train_s"), "median_steps_per_s": med("steps_per_s"),
        "median_tokens_per_s": med("tokens_per_s"), "median_startup_s": med("startup_s"),
        "median_overhead_s": med("overhead_s"), "median_wall_s": med("wall_s"),
    }
    if args.json:
        print(json.dumps({"summary": summary, "runs": rows}, indent=2))
    else:
        for k, v in summary.items():
            print(f"{k:22s} {v:.4f}" if isinstance(v, float) else f"{k:22s} {v}")


if __name__ == "__main__":
    main()
