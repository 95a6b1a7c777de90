"""Benchmark: LLM calls per finished evaluation, and what the feedback of rejected replies changes.

Two parts, every campaign real (sandboxed training with the smoke budget, so a run takes minutes):

1. The demo campaign (seeds/campaigns/demo.toml, offline operator) per campaign seed, twice: as it is,
   and with the earlier attempts left out of every prompt (the campaign before rejections fed back).
   Reported: LLM calls, finished evaluations, calls per evaluation, and the share of replies that were
   duplicates of earlier programs.
2. Stand-ins for a model that mostly does not help, through litellm and the loopback server: 60% garbage
   replies (prose, cut-off blocks, syntax errors, unknown files), and a model that only repeats its first
   answer. Reported: how each campaign ended, its calls against the bound that held them.

    python bench/progress.py [--seeds 2] [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve import config as cfgmod  # noqa: E402
from evolve import lineage  # noqa: E402
from evolve.launch import prepare_launch, run_session  # noqa: E402
from evolve.operators.server import LoopbackServer  # noqa: E402
from evolve.population import Population  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "seeds" / "campaigns" / "demo.toml"


def campaign(name: str, overrides: dict, feedback: bool = True) -> dict:
    cfg = cfgmod.load(DEMO, {"evaluation": {"smoke": True}, **overrides})
    original = Population.attempts
    if not feedback:
        Population.attempts = lambda self, parent_id: ()  # the prompts as they were before #16
    try:
        session = prepare_launch(cfg, name)
        outcome = run_session(session)
    finally:
        Population.attempts = original
    _, cands = lineage.export_rows(session.db, session.campaign_id, "candidates")
    children = [c for c in cands if c["operator"] != "seed"]
    kinds = Counter((c["reason"] or "").split(":")[0] for c in children if c["status"] == "rejected")
    kinds.update("constraint_violation" for c in children if c["status"] == "constraint_violation")
    session.db.close()
    return {"evals": outcome.evals_done, "llm_calls": outcome.llm_calls, "cause": outcome.cause.value,
            "reason": outcome.reason, "rejected": dict(kinds),
            "duplicates": kinds.get("duplicate", 0), "limit": cfg.budget.llm_call_limit()}


def part_demo(seeds: list[int], max_evals: int) -> list[dict]:
    rows = []
    for seed in seeds:
        for feedback in (False, True):
            r = campaign(f"demo-{seed}-{'fb' if feedback else 'nofb'}",
                         {"seed": seed, "budget": {"max_evals": max_evals, "max_minutes": 60}}, feedback)
            rows.append({"seed": seed, "feedback": feedback, **r})
            print(f"  demo seed {seed} feedback={'on' if feedback else 'off'}: {r['llm_calls']} calls, "
                  f"{r['evals']} evals, {r['duplicates']} duplicates", file=sys.stderr)
    return rows


def part_standins(max_evals: int) -> list[dict]:
    rows = []
    for label, kwargs, llm in (
        ("60% garbage replies", {"garbage_rate": 0.6, "seed": 3}, {}),
        ("repeats its first answer", {"mode": "stuck"}, {"fruitless_backoff_s": 0.2, "max_fruitless": 20}),
    ):
        with LoopbackServer(**kwargs) as server:
            r = campaign(f"standin-{len(rows)}", {
                "models": [{"name": "openai/offline", "api_base": server.url}],
                "llm": llm, "budget": {"max_evals": max_evals, "max_minutes": 60}})
            r["requests"] = server.httpd.requests
        rows.append({"stand_in": label, "max_fruitless": llm.get("max_fruitless", cfgmod.LLM().max_fruitless), **r})
        print(f"  {label}: {r['llm_calls']} calls, {r['evals']} evals, {r['cause']}", file=sys.stderr)
    return rows


def report(demo: list[dict], standins: list[dict]) -> str:
    out = ["Demo campaign (smoke budget), per campaign seed: LLM calls / finished evaluations, duplicates",
           f"{'seed':>4}  {'feedback':>8}  {'calls':>5}  {'evals':>5}  {'calls/eval':>10}  {'duplicates':>10}  "
           f"{'dup share':>9}"]
    for r in demo:
        out.append(f"{r['seed']:>4}  {'on' if r['feedback'] else 'off':>8}  {r['llm_calls']:>5}  {r['evals']:>5}  "
                   f"{r['llm_calls'] / max(1, r['evals']):>10.2f}  {r['duplicates']:>10}  "
                   f"{r['duplicates'] / max(1, r['llm_calls']):>9.1%}")
    for on in (False, True):
        arm = [r for r in demo if r["feedback"] == on]
        calls, dups = sum(r["llm_calls"] for r in arm), sum(r["duplicates"] for r in arm)
        out.append(f"all seeds, feedback {'on' if on else 'off'}: {calls} calls, {dups} duplicates "
                   f"({dups / max(1, calls):.1%}); median calls/eval "
                   f"{statistics.median(r['llm_calls'] / max(1, r['evals']) for r in arm):.2f}")
    out += ["", "Stand-ins through litellm and the loopback server (smoke budget):"]
    for r in standins:
        out.append(f"- {r['stand_in']} (LLM-call budget {r['limit']}, max_fruitless {r['max_fruitless']}): "
                   f"{r['llm_calls']} calls ({r['requests']} requests served), {r['evals']} evals, "
                   f"{r['llm_calls'] / max(1, r['evals']):.2f} calls/eval; ended {r['cause']}: {r['reason']}")
        out.append(f"  rejections: {r['rejected']}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2, help="campaign seeds of the demo, each run twice")
    ap.add_argument("--smoke", action="store_true", help="tiny campaigns: a check that this runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    demo_evals, standin_evals = (4, 3) if args.smoke else (18, 10)
    seeds = list(range(1 if args.smoke else args.seeds))
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="evolve-bench-progress-") as folder:
        os.chdir(folder)  # campaigns land in ./populations/
        try:
            demo, standins = part_demo(seeds, demo_evals), part_standins(standin_evals)
        finally:
            os.chdir(here)
    if args.json:
        print(json.dumps({"demo": demo, "standins": standins}, indent=2))
    else:
        print(report(demo, standins))


if __name__ == "__main__":
    main()
