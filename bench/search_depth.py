"""Does our evolution pay over best-of-N sampling and over the peer, as the budget grows? (issue #28)

The single-file task (seeds/tasks/nanogpt_single, MAX_ITERS 100), three contestants with the same
operator (the offline operator's edits, through the loopback LLM for the two searches) and the same
evaluation timeout, one evaluation slot each:

- ours: a real campaign (bench/peer/sides.py ours_run, in a fresh process);
- best_of_n: every child a direct child of the seed (sides.best_of_n);
- peer: OpenEvolve 0.4.0 (sides.peer_run, bench/.peer).

Each contestant runs ONCE per campaign seed, at the largest budget; the best at each budget is read
"anytime": the best validation loss among its first B finished evaluations. For ours a campaign stopped
at B could differ slightly (which candidates are queued, and how the budget's end is handled).

Per budget and contestant: mean and spread of the best over campaign seeds, the share of the
hand-stacked gain recovered ((seed loss - best) / (seed loss - reference loss), the reference being the
best stack of catalog edits found by `--reference`'s greedy search), the best's depth (catalog edits it
stacks) and generation (the peer leaves only its final best program: known where the best is that one, by
its loss), the median staleness of ours' candidates, evaluations not ok.

    python bench/search_depth.py [--budgets 18,36,72] [--seeds 3] [--contestants ours,best_of_n,peer]
        [--parallel 2] [--smoke] [--out FILE] [--resume]
    python bench/search_depth.py --render [--smoke] [--out FILE]   (the BENCHMARKS.md text from the JSON)
    python bench/search_depth.py --reference [--smoke] [--resume]  (the greedy stack search, over an hour)

The JSON is written after every finished run; `--resume` skips the (contestant, seed) runs it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench.peer import sides  # noqa: E402
from evolve.executors import slot_envs  # noqa: E402
from evolve.operators.offline.catalog import CATALOG  # noqa: E402
from scoring.api import score  # noqa: E402

CONTESTANTS = ("ours", "best_of_n", "peer")
FULL = {"budgets": [18, 36, 72], "seeds": 3, "smoke": False, "timeout_s": 600.0}
SMOKE = {"budgets": [3, 4], "seeds": 1, "smoke": True, "timeout_s": 90.0}
GOAL_SHARE = 0.9  # of the hand-stacked gain, at the largest budget (#28)
EVAL_SEED = 1337  # the task's first evaluation seed, as every contestant's


def out_path(smoke: bool) -> Path:
    return sides.OUT / ("search_depth_smoke.json" if smoke else "search_depth.json")


def reference_path(smoke: bool) -> Path:
    return sides.OUT / ("search_depth_reference_smoke.json" if smoke else "search_depth_reference.json")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def machine() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


# ---------------------------------------------------------------- the contestants


def contest(name: str, seed: int, p: dict) -> dict:
    """One contestant's run at the largest budget, its evaluations in the order they finished."""
    n, smoke, timeout, threads = max(p["budgets"]), p["smoke"], p["timeout_s"], p["threads"]
    if name == "ours":
        return sides.fresh("ours_run", evals=n, seed=seed, smoke=smoke, timeout_s=timeout, threads=threads)
    if name == "best_of_n":
        return sides.best_of_n(n, seed=seed, smoke=smoke, timeout_s=timeout, threads=threads)
    # the peer's own evaluation timeout a little above our scoring's, so our sandbox's kill decides
    return sides.peer_run(n - 1, seed=seed, smoke=smoke, timeout_s=timeout + 60, score_timeout_s=timeout,
                          threads=threads)


def kept(name: str, seed: int, r: dict, loads: list[float]) -> dict:
    """What the JSON keeps of a run: its evaluations and its final best's depth and generation."""
    files = r.get("best_files")
    return {"contestant": name, "seed": seed, "wall_s": r["wall_s"], "load": loads, "evals": r["evals"],
            "final_depth": sides.edits_stacked(files) if files else None,
            "final_generation": r.get("best_generation"), "error": r.get("error")}


def timed(name: str, seed: int, p: dict) -> dict:
    before = load()
    try:
        r = contest(name, seed, p)
    except Exception as e:  # noqa: BLE001 - one failed run must not lose the others
        return {"contestant": name, "seed": seed, "error": f"{type(e).__name__}: {e}"[-2000:], "load": [before]}
    return kept(name, seed, r, [before, load()])


def pending(p: dict, done: list[dict]) -> list[tuple[str, int]]:
    have = {(r["contestant"], r["seed"]) for r in done if not r.get("error") and r.get("evals")}
    return [(c, s) for s in range(p["seeds"]) for c in p["contestants"] if (c, s) not in have]


def run_pending(p: dict, result: dict, out: Path) -> None:
    """Every pending run, `parallel` at a time; the JSON rewritten after each one (replacing a failed try)."""
    with ThreadPoolExecutor(max_workers=p["parallel"]) as pool:
        futures = [pool.submit(timed, c, s, p) for c, s in pending(p, result["runs"])]
        for f in as_completed(futures):
            run = f.result()
            pair = (run["contestant"], run["seed"])
            result["runs"] = [r for r in result["runs"] if (r["contestant"], r["seed"]) != pair] + [run]
            out.write_text(json.dumps(result, indent=1))
            progress(run)


def progress(run: dict) -> None:
    error = f" ERROR {run['error']}" if run.get("error") else ""
    print(f"{run['contestant']} seed {run['seed']}: {len(run.get('evals', []))} evaluations, "
          f"{run.get('wall_s', 0):.0f} s, load {run['load']}{error}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- reading a run at a budget


def ok_loss(e: dict) -> float | None:
    return e["best_vloss"] if e["status"] == "ok" and e["best_vloss"] is not None else None


def best_at(evals: list[dict], budget: int) -> dict | None:
    """The evaluation with the lowest loss among the first `budget` that finished (first one on ties)."""
    scored = [e for e in evals[:budget] if ok_loss(e) is not None]
    return min(scored, key=ok_loss) if scored else None


def depth_of(run: dict, best: dict, key: str) -> int | None:
    """The best's depth or generation: from its evaluation, else the run's final best when it is the same loss
    (the peer leaves only its final best program)."""
    if best.get(key) is not None:
        return best[key]
    final = best_at(run["evals"], len(run["evals"]))
    return run[f"final_{key}"] if final is not None and ok_loss(final) == ok_loss(best) else None


def staleness(evals: list[dict]) -> list[int]:
    """Each candidate's staleness once (ours only; empty before the lineage records it)."""
    seen = {e["candidate"]: e.get("staleness") for e in evals if "candidate" in e}
    return [s for s in seen.values() if s is not None]


def at_budget(run: dict, budget: int, ref: dict | None) -> dict:
    evals = run["evals"][:budget]
    best = best_at(evals, budget)
    row = {"evals": len(evals), "not_ok": sum(e["status"] != "ok" for e in evals),
           "t": evals[-1]["end"] if evals else None, "staleness": staleness(evals),
           "best": ok_loss(best) if best else None}
    if best is not None:
        row.update(depth=depth_of(run, best, "depth"), generation=depth_of(run, best, "generation"))
        if ref:
            row["gain_share"] = (ref["seed_loss"] - row["best"]) / (ref["seed_loss"] - ref["loss"])
    return row


# ---------------------------------------------------------------- the reference: greedy stack of catalog edits


def stack_files(names: list[str]) -> dict[str, str]:
    files = dict(sides.single_task().seed_files)
    for name in names:
        files = next(e for e in CATALOG if e.name == name).apply(files)
    return files


def score_round(stack: list[str], smoke: bool, pool: ThreadPoolExecutor, envs: list[dict]) -> list[dict]:
    """Every catalog edit that applies to `stack`, scored on top of it, two at a time on one thread each."""
    task, base = sides.single_task(), stack_files(stack)
    tried = [(e.name, e.apply(base)) for e in CATALOG]
    tried = [(name, files) for name, files in tried if files is not None]
    free = list(envs)

    def one(item: tuple[str, dict]) -> dict:
        env = free.pop()
        t0 = time.time()
        try:
            r = score(item[1], task, seed=EVAL_SEED, smoke=smoke, timeout=900, env=env)
        finally:
            free.append(env)
        return {"edit": item[0], "status": r.status, "best_vloss": r.best_vloss, "wall_s": round(time.time() - t0, 1)}

    return list(pool.map(one, tried))


def seed_loss(smoke: bool) -> float:
    r = score(sides.single_task().seed_files, sides.single_task(), seed=EVAL_SEED, smoke=smoke, timeout=900,
              env=slot_envs(2)[0])
    if not r.ok:
        sys.exit(f"the seed program failed: {r.status} {r.reason}")
    return r.best_vloss


def greedy_start(smoke: bool, out: Path, resume: bool) -> dict:
    """The cut-short search in `out` to continue (with --resume), or a new one from the seed's loss."""
    if resume and out.exists():
        ref = json.loads(out.read_text())
        if not ref.get("finished") and ref["smoke"] == smoke:
            ref["resumed_after_rounds"] = ref.get("resumed_after_rounds", []) + [len(ref["rounds"])]
            return ref
    ref = {"task": "nanogpt_single", "eval_seed": EVAL_SEED, "smoke": smoke, "machine": machine(),
           "load_at_start": load(), "seed_loss": seed_loss(smoke), "stack": [], "rounds": [], "minutes": 0.0}
    ref["loss"] = ref["seed_loss"]
    return ref


def greedy(smoke: bool, out: Path, resume: bool) -> dict:
    """Add the edit that lowers the stack's loss most, until none does; the file rewritten every round."""
    ref = greedy_start(smoke, out, resume)
    t0 = time.time() - 60 * ref["minutes"]  # minutes: the search's own time, over its resumptions
    with ThreadPoolExecutor(max_workers=2) as pool:
        while True:
            rows = score_round(ref["stack"], smoke, pool, slot_envs(2))
            ok = [r for r in rows if r["status"] == "ok"]
            pick = min(ok, key=lambda r: r["best_vloss"]) if ok else None
            better = pick is not None and pick["best_vloss"] < ref["loss"]
            ref["rounds"].append({"stack": list(ref["stack"]), "loss": ref["loss"], "rows": rows,
                                  "chosen": pick["edit"] if better else None})
            if better:
                ref["stack"].append(pick["edit"])
                ref["loss"] = pick["best_vloss"]
            ref.update(minutes=round((time.time() - t0) / 60, 1), load_at_end=load())
            out.write_text(json.dumps(ref, indent=1))
            print(f"round {len(ref['rounds'])}: {len(rows)} edits tried, stack {'+'.join(ref['stack']) or 'seed'} "
                  f"{ref['loss']:.4f} ({ref['minutes']} min)", file=sys.stderr, flush=True)
            if not better:
                ref["finished"] = True
                out.write_text(json.dumps(ref, indent=1))
                return ref


# ---------------------------------------------------------------- the text for BENCHMARKS.md


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def median(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def table_row(name: str, budget: int, rows: list[dict]) -> str:
    bests = [r["best"] for r in rows if r["best"] is not None]
    sd = statistics.stdev(bests) if len(bests) > 1 else None
    mean = f"{statistics.mean(bests):.4f} ± {fmt(sd, '.4f')}" if bests else "n/a"
    span = f"{min(bests):.4f}..{max(bests):.4f}" if bests else "n/a"
    shares = [r["gain_share"] for r in rows if "gain_share" in r]
    share = f"{statistics.mean(shares):.0%}" if shares else "n/a"
    depth, gen = (fmt(median([r.get(k) for r in rows]), "g") for k in ("depth", "generation"))
    stale = fmt(median([s for r in rows for s in r["staleness"]]), "g")
    t = median([r["t"] for r in rows])
    return (f"{budget:>6} {name:10s} {len(rows):>4} {mean:>18s} {span:>15s} {share:>6s} {depth:>6s} {gen:>4s} "
            f"{stale:>6s} {sum(r['not_ok'] for r in rows):>6} {fmt(t and t / 60, '.1f'):>6s}")


def reference_lines(ref: dict | None, smoke: bool) -> list[str]:
    if not ref:
        return [f"No reference ({reference_path(smoke).name} missing: run --reference): gains only, no share."]
    gain = ref["seed_loss"] - ref["loss"]
    cut = "" if ref.get("finished") else f", cut short after {len(ref['rounds'])} rounds"
    return [f"Reference (greedy stack of catalog edits, eval seed {ref['eval_seed']}, {ref['minutes']} min{cut}): "
            f"{' + '.join(ref['stack']) or 'no edit helps'}, val loss {ref['loss']:.4f} against the seed's "
            f"{ref['seed_loss']:.4f} (gain {gain:.4f})."]


def setting_lines(result: dict) -> list[str]:
    p = result["params"]
    loads = [x for r in result["runs"] for x in r["load"]]
    smoke = ", smoke training" if p["smoke"] else ""
    failed = [f"{r['contestant']} seed {r['seed']}: {r['error'][:200]}" for r in result["runs"] if r.get("error")]
    return [f"Campaign seeds 0..{p['seeds'] - 1}, evaluation seed {EVAL_SEED}, timeout {p['timeout_s']:.0f} s, "
            f"{p['parallel']} runs at a time on {p['threads']} torch thread(s) each{smoke}.",
            f"{result['machine']}; 1-minute load average before/after each run: "
            f"{min(loads, default=0):.2f} to {max(loads, default=0):.2f}.",
            *(["Failed runs: " + "; ".join(failed)] if failed else [])]


def _mean_sd(rows: list[dict]) -> tuple[float | None, float | None]:
    bests = [r["best"] for r in rows if r["best"] is not None]
    return (statistics.mean(bests) if bests else None), (statistics.stdev(bests) if len(bests) > 1 else None)


def ahead_line(budget: int, rows: dict[str, list[dict]]) -> str:
    """Goal 1 (#28): ours' mean best lower than each rival's by more than the larger of the two spreads."""
    mine, mine_sd = _mean_sd(rows.get("ours", []))
    parts = []
    for rival in (n for n in rows if n != "ours"):
        theirs, theirs_sd = _mean_sd(rows[rival])
        if mine is None or theirs is None or mine_sd is None or theirs_sd is None:
            parts.append(f"{rival}: n/a (fewer than two seeds)")
            continue
        lead, spread = theirs - mine, max(mine_sd, theirs_sd)
        parts.append(f"{rival}: ahead by {lead:.4f} against a spread of {spread:.4f}, "
                     f"{'met' if lead > spread else 'NOT met'}")
    return (f"Goal at {budget} evaluations, ours ahead of each rival by more than the larger sd over campaign "
            f"seeds: {'; '.join(parts) or 'no rival ran'}.")


def share_line(budget: int, rows: list[dict]) -> str:
    """Goal 2 (#28): ours recovers at least GOAL_SHARE of the hand-stacked gain at the largest budget."""
    shares = [r["gain_share"] for r in rows if "gain_share" in r]
    if not shares:
        return f"Goal at {budget} evaluations, ours at least {GOAL_SHARE:.0%} of the hand-stacked gain: n/a."
    got = statistics.mean(shares)
    return (f"Goal at {budget} evaluations, ours at least {GOAL_SHARE:.0%} of the hand-stacked gain: "
            f"{got:.0%} (mean over {len(shares)} seed(s)), {'met' if got >= GOAL_SHARE else 'NOT met'}.")


def short_lines(runs: list[dict], largest: int) -> list[str]:
    """Contestants whose runs ended before the largest budget: their later budgets repeat an earlier best."""
    lines = []
    for name in CONTESTANTS:
        short = sorted({len(r["evals"]) for r in runs if r["contestant"] == name and len(r["evals"]) < largest})
        if short:
            why = " (its operator gave no new distinct child of the seed)" if name == "best_of_n" else ""
            lines.append(f"{name} stopped at {', '.join(map(str, short))} evaluations of {largest}{why}: its later "
                         f"budgets repeat the best it had.")
    return lines


def render(result: dict, ref: dict | None) -> str:
    p = result["params"]
    runs = [r for r in result["runs"] if r.get("evals")]
    head = (f"{'budget':>6} {'contestant':10s} {'runs':>4} {'best mean ± sd':>18s} {'min..max':>15s} {'share':>6s} "
            f"{'depth':>6s} {'gen':>4s} {'stale':>6s} {'not ok':>6s} {'t_min':>6s}")
    lines, by_budget = [head], {}
    for budget in p["budgets"]:
        by_budget[budget] = {}
        for name in p["contestants"]:
            rows = [at_budget(r, budget, ref) for r in runs if r["contestant"] == name]
            if rows:
                by_budget[budget][name] = rows
                lines.append(table_row(name, budget, rows))
    ahead_at = p["budgets"][-2] if len(p["budgets"]) > 1 else p["budgets"][-1]
    goals = [ahead_line(ahead_at, by_budget[ahead_at]),
             share_line(p["budgets"][-1], by_budget[p["budgets"][-1]].get("ours", []))]
    notes = [
        "Anytime reading: each contestant ran once per campaign seed at the largest budget; a budget's best is the "
        "lowest val loss among its first B finished evaluations (for ours a campaign stopped at B could queue and "
        "end slightly differently).",
        "share: (seed loss - best) / (seed loss - reference loss), mean over seeds. depth: catalog edits the best "
        "stacks (median; the peer's is known only for its final best); gen: the best's generation (median); "
        "stale: median staleness of ours' candidates (evaluations finished between the choice of the parent and "
        "the start of the candidate's own evaluation); t_min: minutes to the B-th finished evaluation (median).",
        *short_lines(runs, p["budgets"][-1]),
        *reference_lines(ref, p["smoke"]),
        *goals,
        *setting_lines(result),
    ]
    return "\n".join([*lines, "", *(textwrap.fill(n, 116) for n in notes)])


# ---------------------------------------------------------------- main


def params(args: argparse.Namespace) -> dict:
    p = dict(SMOKE if args.smoke else FULL)
    if args.budgets:
        p["budgets"] = sorted(int(x) for x in args.budgets.split(","))
    if args.seeds:
        p["seeds"] = args.seeds
    names = [c for c in (args.contestants or ",".join(CONTESTANTS)).split(",") if c]
    if set(names) - set(CONTESTANTS):
        sys.exit(f"unknown contestant(s) {sorted(set(names) - set(CONTESTANTS))}; known: {', '.join(CONTESTANTS)}")
    if "peer" in names and not sides.peer_available():
        if not (args.smoke and not args.contestants):
            sys.exit(f"the peer is not installed: {sides.PEER_PYTHON} (make bench/.peer/bin/python)")
        names.remove("peer")
        print("smoke: the peer is not installed, left out", file=sys.stderr)
    p.update(contestants=names, parallel=args.parallel, threads=max(1, (os.cpu_count() or 1) // args.parallel))
    return p


def start(p: dict, out: Path, resume: bool) -> dict:
    """The earlier result to resume (same budget and training), or a new one."""
    if resume and out.exists():
        old = json.loads(out.read_text())
        q = old["params"]
        if max(q["budgets"]) != max(p["budgets"]) or q["smoke"] != p["smoke"]:
            sys.exit(f"{out} holds runs at budget {max(q['budgets'])} (smoke {q['smoke']}): not resumable here")
        return {**old, "params": p, "machine": machine()}
    return {"params": p, "machine": machine(), "runs": []}


def read_reference(smoke: bool) -> dict | None:
    path = reference_path(smoke)
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budgets", default="", help="comma-separated evaluation budgets (default 18,36,72)")
    ap.add_argument("--seeds", type=int, default=0, help="campaign seeds 0 .. N-1 (default 3)")
    ap.add_argument("--contestants", default="", help="comma-separated, of ours,best_of_n,peer (default all)")
    ap.add_argument("--parallel", type=int, default=2, help="contestant runs at a time, one slot each")
    ap.add_argument("--smoke", action="store_true", help="tiny: budgets 3,4, one seed, smoke training")
    ap.add_argument("--out", default="")
    ap.add_argument("--resume", action="store_true",
                    help="skip the runs the JSON already holds (with --reference: continue a cut-short search)")
    ap.add_argument("--render", action="store_true", help="print the BENCHMARKS.md text from the JSON")
    ap.add_argument("--reference", action="store_true", help="run the greedy stack search instead")
    args = ap.parse_args()
    if args.reference:
        greedy(args.smoke, Path(args.out) if args.out else reference_path(args.smoke), args.resume)
        return
    out = Path(args.out) if args.out else out_path(args.smoke)
    if not args.render:
        out.parent.mkdir(parents=True, exist_ok=True)
        result = start(params(args), out, args.resume)
        run_pending(result["params"], result, out)
    print(render(json.loads(out.read_text()), read_reference(args.smoke)))


if __name__ == "__main__":
    main()
