"""Benchmark: the demo campaign with pruning off and on, side by side, on the same campaign seeds.

For each campaign seed, the `make demo` campaign (seeds/campaigns/demo.toml: built-in task, offline
operator, full training budget) runs once with `[pruning] enabled = false` and once with it on, in turn,
in a scratch folder. From each campaign's database: the training time spent (the referee's train() time,
summed over every evaluation, pruned ones included), evaluations finished and how many were pruned, the
best validation loss reached, and the training time spent until a candidate first reached the seed's
loss minus 0.2. For the campaigns with pruning off, the rule is also replayed on their recorded curves:
what it would have pruned, whether any of those ended better than its reference, and the training time
it would have saved. Goal: the same best in at most 0.7x the training time.

    python bench/prune_demo.py [--seeds 3] [--margin M] [--warmup W] [--json] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evolve import config as cfgmod  # noqa: E402
from evolve import lineage  # noqa: E402
from scoring import prune  # noqa: E402

TARGET_BELOW_SEED = 0.2


def campaign(work: Path, name: str, config: Path, seed: int, smoke: bool) -> dict:
    evolve = Path(sys.executable).with_name("evolve")
    cmd = [str(evolve), "launch", "--config", str(config), "--name", name, "--seed", str(seed), "--json"]
    if smoke:
        cmd += ["--smoke", "--max-evals", "6"]
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"campaign {name} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def figures(db_path: Path, rule: cfgmod.Pruning) -> dict:
    """What one campaign spent and reached, from its rows; and the rule replayed on its curves."""
    db = lineage.open_db(lineage.sqlite_url(db_path), create=False, readonly=True)
    try:
        cid = lineage.campaign_id(db, "demo")
        _, cands = lineage.export_rows(db, cid, "candidates")
        _, evals = lineage.export_rows(db, cid, "evaluations")
    finally:
        db.close()
    by_id = {c["id"]: c for c in cands}
    seed_fit = min(c["fitness"] for c in cands if c["operator"] == "seed" and c["fitness"] is not None)
    evals.sort(key=lambda e: e["finished_at"] or e["created_at"])
    spent, reached_at = 0.0, None
    target = seed_fit - TARGET_BELOW_SEED
    for e in evals:
        spent += e["elapsed_s"] or 0.0
        c = by_id[e["candidate_id"]]
        if reached_at is None and e["status"] == "ok" and e["best_vloss"] is not None and e["best_vloss"] <= target \
                and c["status"] == "ok" and c["fitness"] is not None and c["fitness"] <= target:
            reached_at = spent
    ok = [c["fitness"] for c in cands if c["status"] == "ok" and c["fitness"] is not None]
    replay = _replay(cands, evals, rule)
    return {"training_s": round(spent, 1), "evaluations": sum(e["status"] != "interrupted" for e in evals),
            "pruned": sum(c["status"] == "pruned" for c in cands), "best": round(min(ok), 4),
            "seed_loss": round(seed_fit, 4), "target_s": None if reached_at is None else round(reached_at, 1), **replay}


def _replay(cands: list[dict], evals: list[dict], rule: cfgmod.Pruning) -> dict:
    """The rule on recorded full curves: first-seed evaluations of children, against their reference."""
    first = min(e["seed"] for e in evals)
    curves = {e["candidate_id"]: e for e in evals if e["seed"] == first and e["status"] == "ok" and e["vloss_steps"]}
    by_id = {c["id"]: c for c in cands}
    would, wrong, saved, total = 0, 0, 0.0, 0.0
    for cid, e in curves.items():
        c = by_id[cid]
        ref = curves.get(c["prune_reference"]) if c["prune_reference"] is not None else None
        if c["operator"] == "seed" or ref is None:
            continue
        ref_losses = [float("nan") if v is None else v for v in ref["vloss_history"]]
        r = prune.Rule(rule.warmup, rule.margin, ref["candidate_id"], tuple(ref["vloss_steps"]),
                       prune.held_to(ref_losses, ref["best_vloss"]))
        total += e["elapsed_s"] or 0.0
        losses = [float("nan") if v is None else v for v in e["vloss_history"]]
        stopped = prune.replay(r, e["steps"], e["vloss_steps"], losses)
        if stopped:
            would += 1
            saved += (e["elapsed_s"] or 0.0) * (1 - e["vloss_steps"][stopped[0] - 1] / e["steps"])
            wrong += e["best_vloss"] < ref["best_vloss"]
    return {"replay_would_prune": would, "replay_pruned_better_than_reference": wrong,
            "replay_saved_share": round(saved / total, 3) if total else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="campaign seeds 0..N-1, each with pruning off and on")
    ap.add_argument("--warmup", type=float, default=None, help="default: the settings' default")
    ap.add_argument("--margin", type=float, default=None, help="default: the settings' default")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny budget, 6 evaluations, one seed: a check that it runs")
    args = ap.parse_args()
    rule = cfgmod.Pruning(**{k: v for k, v in (("warmup", args.warmup), ("margin", args.margin)) if v is not None})
    work = Path(tempfile.mkdtemp(prefix="evolve-prune-bench-"))
    base = tomllib.loads((REPO / "seeds" / "campaigns" / "demo.toml").read_text())
    rows = []
    for seed in range(1 if args.smoke else args.seeds):
        for on in (False, True):
            arm = "on" if on else "off"
            config = work / f"demo-{arm}.toml"
            pruning = {"enabled": on, "warmup": rule.warmup, "margin": rule.margin}
            config.write_text(cfgmod.to_toml(cfgmod.validate({**base, "pruning": pruning})))
            folder = work / f"{arm}-{seed}"
            folder.mkdir()
            campaign(folder, "demo", config, seed, args.smoke)
            row = {"seed": seed, "pruning": arm, **figures(folder / "populations" / "demo" / "lineage.db", rule)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    out = {"warmup": rule.warmup, "margin": rule.margin, "runs": rows, "workdir": str(work)}
    for arm in ("off", "on"):
        mine = [r for r in rows if r["pruning"] == arm]
        out[arm] = {"median_training_s": statistics.median(r["training_s"] for r in mine),
                    "median_best": statistics.median(r["best"] for r in mine)}
    out["training_ratio_on_off"] = round(out["on"]["median_training_s"] / out["off"]["median_training_s"], 3)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"pruning warmup {rule.warmup:g}, margin {rule.margin:g}")
    print(f"{'seed':>4s} {'pruning':7s} {'train s':>8s} {'evals':>5s} {'pruned':>6s} {'best':>7s} {'seed':>7s} "
          f"{'to target s':>11s} {'replay: would prune / wrong / saved':>36s}")
    for r in rows:
        replay = (f"{r['replay_would_prune']} / {r['replay_pruned_better_than_reference']} / "
                  f"{r['replay_saved_share']}" if r["pruning"] == "off" else "")
        target = "-" if r["target_s"] is None else f"{r['target_s']:.0f}"
        print(f"{r['seed']:4d} {r['pruning']:7s} {r['training_s']:8.0f} {r['evaluations']:5d} {r['pruned']:6d} "
              f"{r['best']:7.4f} {r['seed_loss']:7.4f} {target:>11s} {replay:>36s}")
    for arm in ("off", "on"):
        print(f"median ({arm}): training {out[arm]['median_training_s']:.0f} s, best {out[arm]['median_best']:.4f}")
    ratio = out["training_ratio_on_off"]
    same = out["on"]["median_best"] <= out["off"]["median_best"] + 0.01
    met = "met" if same and ratio <= 0.7 else "NOT met"
    print(f"training time on/off {ratio:.2f}x; goal (same best in <= 0.7x): {met}")


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    main()
