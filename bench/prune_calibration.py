"""Calibrate the pruning margin from real full-budget curves: how far behind can a winner be mid-run?

Reads the curves bench/offline_edits.py recorded (each catalog edit alone, and stacks, on the built-in
task, full budget, one seed) and holds every run to every other run as its reference, as the referee
would (scoring/prune.py: running minima, the reference interpolated, after a warm-up share of the budget).
A pair counts as a winner when the run ends with a lower fitness than its reference: the rule must never
prune one. For each warm-up share it prints the largest lead a reference had over a winner (the margin
must exceed it), then for a few margins: the pairs pruned, the winners among them, and the share of the
pairs' training that pruning would have saved. The calibrated margin is 1.5x the largest lead at the
settings' warm-up, rounded up to 0.01; the settings' default must be at least that.

    python bench/prune_calibration.py [--curves bench/out/offline_edits_run.jsonl]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evolve.config import Pruning  # noqa: E402
from scoring import prune  # noqa: E402

WARMUPS = (0.1, 0.2, 0.3, 0.5)
MARGINS = (0.02, 0.05, 0.1, 0.15, 0.2)
HEADROOM = 1.5


def load(path: Path) -> list[dict]:
    """The runs of the latest offline_edits.py invocation in the file (it appends; each begins with the seed)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    starts = [i for i, r in enumerate(lines) if not r["edits"]] or [0]
    runs = []
    for r in lines[starts[-1]:]:
        if r["status"] == "ok" and r.get("vloss_steps"):
            r["name"] = "+".join(r["edits"]) or "seed"
            r["losses"] = tuple(math.nan if v is None else v for v in r["vloss_history"])
            runs.append(r)
    return runs


def first_prune(rule: prune.Rule, budget: int, run: dict) -> int | None:
    stopped = prune.replay(rule, budget, run["vloss_steps"], run["losses"])
    return run["vloss_steps"][stopped[0] - 1] if stopped else None


def largest_lead(runs: list[dict], warmup: float, budget: int) -> tuple[float, str]:
    """The most a reference's best-so-far was below a run that ends better than it, after the warm-up."""
    lead, which = -math.inf, ""
    for ref in runs:
        for run in runs:
            if run is ref or run["best_vloss"] >= ref["best_vloss"]:
                continue
            rule = prune.Rule(warmup, 0.0, 0, tuple(ref["vloss_steps"]), ref["losses"])
            mine = prune.running_best(run["vloss_steps"], run["losses"])
            for step, best in mine:
                theirs = prune.reference_at(rule, step)
                if warmup * budget <= step < budget and theirs is not None and best - theirs > lead:
                    lead, which = best - theirs, f"{run['name']} against {ref['name']} at step {step}"
    return lead, which


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--curves", default="bench/out/offline_edits_run.jsonl")
    args = ap.parse_args()
    runs = load(Path(args.curves))
    if len(runs) < 2:
        sys.exit(f"{args.curves}: fewer than two ok runs with curves; run bench/offline_edits.py first")
    budget = max(r["vloss_steps"][-1] for r in runs)
    pairs = len(runs) * (len(runs) - 1)
    winners = sum(run["best_vloss"] < ref["best_vloss"] for ref in runs for run in runs if run is not ref)
    print(f"{len(runs)} runs from {args.curves} (budget {budget} steps): {pairs} ordered pairs, {winners} in which "
          "the run ends better than its reference")
    print()
    print(f"{'warm-up':>7s}  {'largest lead over a winner':>26s}  where")
    leads = {}
    for w in WARMUPS:
        leads[w] = largest_lead(runs, w, budget)
        print(f"{w:7.1f}  {leads[w][0]:26.4f}  {leads[w][1]}")
    print()
    print(f"{'warm-up':>7s} {'margin':>6s} {'pairs pruned':>12s} {'winners pruned':>14s} {'training saved':>14s}")
    for w in WARMUPS:
        for m in MARGINS:
            pruned = wrong = 0
            saved = 0.0
            for ref in runs:
                rule = prune.Rule(w, m, 0, tuple(ref["vloss_steps"]), ref["losses"])
                for run in runs:
                    if run is ref:
                        continue
                    step = first_prune(rule, budget, run)
                    if step is not None:
                        pruned += 1
                        wrong += run["best_vloss"] < ref["best_vloss"]
                        saved += 1 - step / budget
            print(f"{w:7.1f} {m:6.2f} {pruned:12d} {wrong:14d} {saved / pairs:13.1%}")
    gaps = [min(v for v in r["losses"] if math.isfinite(v)) - r["best_vloss"] for r in runs]
    print()
    print(f"lowest monitoring loss minus fitness, every run: {min(gaps):+.4f} to {max(gaps):+.4f} (held_to raises a "
          "reference only by how much this is negative)")
    default = Pruning()
    lead = leads.get(default.warmup) or largest_lead(runs, default.warmup, budget)
    calibrated = math.ceil(max(lead[0], 0.0) * HEADROOM * 100) / 100
    print()
    print(f"calibrated margin at warm-up {default.warmup:g}: {HEADROOM:g} x {lead[0]:.4f} -> {calibrated:.2f}; "
          f"the settings' default is {default.margin:g}: "
          f"{'at least that' if default.margin >= calibrated else 'BELOW it'}")


if __name__ == "__main__":
    main()
