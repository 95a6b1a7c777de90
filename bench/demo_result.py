"""Benchmark: the `make demo` campaign's result against the seed's own noise, measured in one run.

Runs the demo campaign (seeds/campaigns/demo.toml: built-in task, offline operator, full training
budget) in a scratch folder, then scores the seed program on more evaluation seeds until it has 5, and
prints the best candidate's val and test loss against the seed's, with the seed's spread (max - min
of its val loss over the 5 seeds) beside the improvement. The goal is an improvement over 3x that spread.

    python bench/demo_result.py [--config seeds/campaigns/demo.toml] [--seed N] [--json] [--smoke]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scoring.api import score  # noqa: E402
from scoring.task import builtin_task_dir, load_task  # noqa: E402

NOISE_SEEDS = 5


def _search_figures(evolve: Path, work: Path, best_id: int) -> dict:
    """How deep the search went: the best's generation and the offline catalog's edits its files hold, the
    trained children (those with an evaluation) by whether their parent is a starting program or a child,
    and the median staleness `evolve status` reports."""
    from evolve.operators.offline.catalog import CATALOG

    def cli(*args: str) -> str:
        return subprocess.run([str(evolve), *args], cwd=work, capture_output=True, text=True, check=True).stdout

    cands = {c["id"]: c for c in json.loads(cli("export", "demo", "--format", "json"))}
    trained = {e["candidate_id"] for e in json.loads(cli("export", "demo", "--format", "json", "--table",
                                                         "evaluations"))}
    seeds = {i for i, c in cands.items() if c["operator"] == "seed"}
    children = [c for i, c in cands.items() if i in trained and i not in seeds]
    files = json.loads(cli("show", "demo", str(best_id), "--json")).get("files", {})
    return {"best_generation": cands[best_id]["generation"],
            "best_catalog_edits": [e.name for e in CATALOG if files and e.applied(files)],
            "trained_children_of_seed": sum(c["parent_id"] in seeds for c in children),
            "trained_children_of_children": sum(c["parent_id"] not in seeds for c in children),
            "median_staleness": json.loads(cli("status", "demo", "--json")).get("median_staleness")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(REPO / "seeds" / "campaigns" / "demo.toml"))
    ap.add_argument("--seed", type=int, default=None, help="campaign seed (default: the config's)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny budget and 4 evaluations: a check that it runs")
    args = ap.parse_args()
    noise_seeds = 3 if args.smoke else NOISE_SEEDS
    work = Path(tempfile.mkdtemp(prefix="evolve-demo-bench-"))
    evolve = Path(sys.executable).with_name("evolve")
    cmd = [str(evolve), "launch", "--config", args.config, "--name", "demo", "--json"]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    if args.smoke:
        cmd += ["--smoke", "--max-evals", "4"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"the demo campaign failed ({r.returncode}): {r.stderr[-2000:]}")
    campaign_s = time.perf_counter() - t0
    s = json.loads(r.stdout)

    # The seed's noise: its campaign evaluations plus fresh seeds, up to NOISE_SEEDS, on the same sandbox.
    task = load_task(builtin_task_dir())
    losses = list(s["seed"]["val_losses"])
    next_seed = 1337 + len(losses) + 100  # clear of the campaign's evaluation seeds
    while len(losses) < noise_seeds:
        res = score(dict(task.seed_files), task, seed=next_seed, smoke=args.smoke, timeout=900)
        if not res.ok:
            sys.exit(f"the seed program failed on seed {next_seed}: {res.status} {res.reason}")
        losses.append(res.best_vloss)
        next_seed += 1
    spread = max(losses) - min(losses)
    imp = s.get("improvement", {})
    search = _search_figures(evolve, work, s["best"]["id"])
    result = {
        "campaign_minutes": round(campaign_s / 60, 2), "evaluations": s["evaluations"], "status": s["status"],
        "seed_val_loss": s["seed"]["val_loss"], "seed_test_loss": s["seed"]["test_loss"],
        "best_id": s["best"]["id"], "best_val_loss": s["best"]["val_loss"], "best_test_loss": s["best"]["test_loss"],
        "best_seeds": s["best"]["seeds"], "improvement_val": imp.get("val_loss"),
        "improvement_test": imp.get("test_loss"),
        "seed_vloss_per_seed": [round(v, 4) for v in losses], "seed_spread": round(spread, 4),
        "seed_stdev": round(statistics.stdev(losses), 4),
        "improvement_over_spread": round(imp["val_loss"] / spread, 2) if imp.get("val_loss") is not None else None,
        "lineage": [f"#{x['id']} {x['operator']}" + (f"/{x['persona']}" if x["persona"] else "")
                    for x in s.get("lineage", [])],
        **search,
        "workdir": str(work),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:{width}s}  {v}")
    goal = result["improvement_over_spread"]
    print(f"{'goal (> 3x spread)':{width}s}  {'met' if goal is not None and goal > 3 else 'NOT met'}")


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    main()
