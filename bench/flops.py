"""Training FLOPs of the seed and of each offline catalog edit, per step and per full-budget evaluation.

Each program (the seed, then each catalog edit applied alone) is scored once with the smoke budget
through scoring.api.score, the path a campaign takes: the step's FLOPs are three times torch's count of
the trained model's forward pass on one final batch, in the final evaluation's fresh process (attention
included; the optimizer's work is not), and the step is the same at every budget (the batch shape is
frozen), so a full-budget evaluation is that count times the task's full training budget, read from its
frozen block.

    python bench/flops.py [--edits muon,rope]
"""

from __future__ import annotations

import argparse

from evolve.operators.offline.catalog import CATALOG, by_name
from scoring import data, guard
from scoring.api import score
from scoring.task import builtin_task_dir, load_task
from scoring.task_check import run_frozen_block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", default="", help="comma-separated edit names (default: all)")
    args = ap.parse_args()
    task = load_task(builtin_task_dir())
    text = task.seed_files[task.frozen.file]
    first, last = guard.frozen_region(text, task)
    block = "\n".join(text.splitlines()[first - 1 : last])
    budget = run_frozen_block(task, block, data.dataset(task.dataset))["full"]["values"][task.frozen.budget_name]
    edits = [by_name(n) for n in args.edits.split(",") if n] or list(CATALOG)
    print(f"full budget: {task.frozen.budget_name} = {budget} steps")
    print("| program | GFLOPs per step | TFLOPs per evaluation | x seed |")
    print("|---|---|---|---|")
    seed_step = None
    for name, files in [("seed", dict(task.seed_files))] + [(e.name, e.apply(dict(task.seed_files))) for e in edits]:
        if files is None:
            print(f"| {name} | (does not apply to the seed) | | |")
            continue
        r = score(files, task, smoke=True)
        if r.step_flops is None:
            print(f"| {name} | {r.status}: {r.reason[:60]} | | |")
            continue
        seed_step = seed_step or r.step_flops
        print(f"| {name} | {r.step_flops / 1e9:.2f} | {r.step_flops * budget / 1e12:.2f} | "
              f"{r.step_flops / seed_step:.2f} |")


if __name__ == "__main__":
    main()
