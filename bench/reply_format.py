"""Benchmark: whole-file replies against SEARCH/REPLACE edits (`[llm] reply_format`, issue 31).

The demo campaign (seeds/campaigns/demo.toml) at the smoke budget, per campaign seed, once asking for whole
files and once for edits. The LLM is the offline operator behind the loopback server, reached through
litellm over HTTP, answering each reply only after the time a model generating `--tokens-per-s` tokens a
second (its completion tokens, 4 characters each) would take: so a longer reply is a slower call, as with a
real model. Reported per arm: LLM calls; reply characters and tokens (litellm's count) per call; prompt
characters per call; the share of replies that applied (not refused as unparseable or as edits that did not
apply); LLM seconds per call; the evaluation slots' utilization (training wall time over slots x campaign
wall time); the queue the pacing rule keeps for that latency (evolve/pacing.py's lead: jobs ready beyond the
free slots) and the median staleness measured; evaluations finished and the best validation loss reached.

    python bench/reply_format.py [--seeds 3] [--tokens-per-s 60] [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve import config as cfgmod  # noqa: E402
from evolve import lineage  # noqa: E402
from evolve.launch import prepare_launch, run_session  # noqa: E402
from evolve.operators.llm import litellm_module  # noqa: E402
from evolve.operators.server import LoopbackServer  # noqa: E402
from evolve.pacing import lead  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "seeds" / "campaigns" / "demo.toml"
NOT_APPLIED = ("unparseable", "edit_mismatch")  # a reply that gave no file set to judge


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def campaign(name: str, seed: int, reply_format: str, tokens_per_s: float, max_evals: int | None) -> dict:
    with LoopbackServer(tokens_per_s=tokens_per_s) as server:
        overrides = {"seed": seed, "evaluation": {"smoke": True}, "llm": {"reply_format": reply_format},
                     "models": [{"name": "openai/offline", "api_base": server.url}]}
        if max_evals is not None:  # the smoke form: the seed and one child
            overrides["budget"], overrides["evaluation"]["confirm_seeds"] = {"max_evals": max_evals}, 0
        cfg = cfgmod.load(DEMO, overrides)
        session = prepare_launch(cfg, name)
        t0 = time.perf_counter()
        outcome = run_session(session)
        wall = time.perf_counter() - t0
        prompts = list(server.httpd.prompts)
    rows = {t: lineage.export_rows(session.db, session.campaign_id, t)[1]
            for t in ("llm_calls", "candidates", "evaluations")}
    session.db.close()
    return _figures(rows, prompts, outcome, wall, cfg.evaluation.workers)


def _figures(rows: dict, prompts: list[str], outcome, wall: float, slots: int) -> dict:
    calls = [c for c in rows["llm_calls"] if c["reply"] is not None]
    replies = [c["reply"] for c in calls]
    kinds = [(c["reason"] or "").split(":", 1)[0] for c in rows["candidates"] if c["operator"] != "seed"]
    litellm = litellm_module()
    evals = [e for e in rows["evaluations"] if e["wall_s"]]
    latency = _mean([c["latency_s"] for c in calls])
    eval_s = _mean([e["wall_s"] for e in evals])
    staleness = [c["staleness"] for c in rows["candidates"] if c["staleness"] is not None]
    return {
        "calls": len(calls), "evals": outcome.evals_done, "best": outcome.best_fitness, "wall_s": wall,
        "reply_chars": _mean([len(r) for r in replies]),
        "reply_tokens": _mean([litellm.token_counter(model="gpt-4o", text=r) for r in replies]),
        "prompt_chars": _mean([len(p) for p in prompts]),
        "applied": sum(k not in NOT_APPLIED for k in kinds) / max(1, len(kinds)),
        "latency_s": latency, "eval_s": eval_s,
        "utilization": sum(e["wall_s"] for e in evals) / (slots * wall) if wall else 0.0,
        "lead": lead(latency, eval_s, slots), "staleness": statistics.median(staleness) if staleness else None,
        "cause": outcome.cause.value,
    }


ROW = ("{seed:>4}  {arm:>5}  {calls:>5}  {reply_chars:>11.0f}  {reply_tokens:>12.0f}  {prompt_chars:>12.0f}  "
       "{applied:>7.0%}  {latency_s:>9.1f}  {utilization:>7.0%}  {lead:>4}  {staleness!s:>9}  {evals:>5}  {best:>6.4f}")


def report(rows: list[dict], tokens_per_s: float) -> str:
    out = [f"Demo campaign (smoke budget), loopback LLM through litellm at {tokens_per_s:g} tokens/s of reply "
           "(completion tokens as the server counts them, 4 characters each)",
           f"{'seed':>4}  {'arm':>5}  {'calls':>5}  {'reply chars':>11}  {'reply tokens':>12}  {'prompt chars':>12}  "
           f"{'applied':>7}  {'LLM s/call':>9}  {'slots':>7}  {'lead':>4}  {'staleness':>9}  {'evals':>5}  {'best':>6}"]
    out += [ROW.format(**r) for r in rows]
    arms = {arm: [r for r in rows if r["arm"] == arm] for arm in ("full", "edits")}
    for arm, rs in arms.items():
        bests = [r["best"] for r in rs]
        spread = f" (spread {max(bests) - min(bests):.4f})" if len(bests) > 1 else ""
        out.append(f"{arm}: {_mean([r['reply_chars'] for r in rs]):.0f} reply chars/call, "
                   f"{_mean([r['reply_tokens'] for r in rs]):.0f} tokens/call, "
                   f"{_mean([r['latency_s'] for r in rs]):.1f} LLM s/call, {_mean([r['applied'] for r in rs]):.0%} "
                   f"applied, slots {_mean([r['utilization'] for r in rs]):.0%} busy, lead "
                   f"{_mean([r['lead'] for r in rs]):.1f}; best mean {_mean(bests):.4f}{spread}")
    full, edits = (_mean([r["reply_chars"] for r in arms[a]]) for a in ("full", "edits"))
    if edits:
        out.append(f"reply characters per call, full / edits: {full / edits:.1f}x")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="campaign seeds, each run with both formats")
    ap.add_argument("--tokens-per-s", type=float, default=60.0, help="the loopback model's generation rate")
    ap.add_argument("--smoke", action="store_true", help="one seed, two evaluations: a check that this runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds = range(1 if args.smoke else args.seeds)
    rate = 2000.0 if args.smoke else args.tokens_per_s
    rows = []
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="evolve-bench-reply-") as folder:
        os.chdir(folder)  # campaigns land in ./populations/
        try:
            for seed in seeds:
                for arm in ("full", "edits"):
                    r = campaign(f"{arm}-{seed}", seed, arm, rate, 2 if args.smoke else None)
                    rows.append({"seed": seed, "arm": arm, **r})
                    print(f"  seed {seed} {arm}: {r['calls']} calls, {r['reply_chars']:.0f} chars/reply, "
                          f"{r['evals']} evals in {r['wall_s']:.0f} s", file=sys.stderr)
        finally:
            os.chdir(here)
    print(json.dumps(rows, indent=2) if args.json else report(rows, rate))


if __name__ == "__main__":
    main()
