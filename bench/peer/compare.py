"""Side by side with OpenEvolve 0.4.0 (issue 9): pipeline utilization, controller overhead, search
efficiency on the single-file task, and a hung candidate. Writes bench/out/peer.json (peer-smoke.json
with --smoke); bench/peer/render.py turns it into BENCHMARKS.md's peer section.

    python bench/peer/compare.py [--smoke] [--only utilization,controller,search,hung] [--search-evals N]
        [--search-seeds N]

The peer runs from bench/.peer (`make bench/.peer/bin/python` creates it). Both frameworks get the same
loopback LLM (bench/peer/loopback.py: the offline operator's edits, fixed added latency) and the same
evaluation (our scoring, or a fixed-length stand-in where only the pipeline is measured), one slot each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.peer import sides  # noqa: E402

SECTIONS = ("utilization", "controller", "hung", "search")  # the long one last
FULL = {"util_s": 1.0, "util_evals": 20, "ctl_sizes": [100, 1000, 10000], "ctl_ours_extra": 100, "ctl_runs": 3,
        "ctl_peer_iters": {100: 50, 1000: 30, 10000: 10}, "ctl_limit_s": 900, "search_evals": 5,
        "search_seeds": 3, "search_smoke": False, "search_delta": 0.05, "search_timeout_s": 600.0,
        "hang_timeout_s": 45.0,
        "hang_inner_s": 135.0, "hang_evals": 5}
SMOKE = {"util_s": 0.2, "util_evals": 5, "ctl_sizes": [20], "ctl_ours_extra": 5, "ctl_runs": 1,
         "ctl_peer_iters": {20: 5},
         "ctl_limit_s": 120, "search_evals": 2, "search_seeds": 1, "search_smoke": True,
         "search_delta": 0.05, "search_timeout_s": 90.0,
         "hang_timeout_s": 20.0, "hang_inner_s": 40.0, "hang_evals": 3}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def machine() -> dict:
    import torch

    peer = subprocess.run([str(sides.PEER_PYTHON), "-c", "import openevolve; print(openevolve.__version__)"],
                          capture_output=True, text=True)
    return {"machine": platform.machine(), "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "torch": torch.__version__,
            "persona_evolve": metadata.version("persona-evolve"),
            "openevolve": peer.stdout.strip() or "not installed", "load_at_start": load(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _busy(evals: list[dict]) -> float:
    return sum(e["end"] - e["start"] for e in evals)


def utilization(p: dict, partial=None) -> list[dict]:
    rows = []
    s, n = p["util_s"], p["util_evals"]
    for latency in (s, 4 * s):
        before = load()
        ours = sides.fresh("ours_run", evals=n, latency_s=latency, eval_s=s)
        peer = sides.peer_run(n - 1, latency_s=latency, eval_s=s, limit_s=60 + 3 * n * (latency + s))
        peer_wall = peer.get("run_wall_s", peer["wall_s"])
        row = {"L_s": latency, "S_s": s, "evals_ours": ours["n_evals"], "evals_peer": len(peer["evals"]),
               "wall_ours_s": ours["wall_s"], "wall_peer_s": peer_wall, "proposers_ours": ours["proposers"],
               "busy_ours": round(ours["busy_s"] / ours["wall_s"], 3),
               "busy_peer": round(_busy(peer["evals"]) / peer_wall, 3) if peer["evals"] else None,
               "load": [before, load()]}
        rows.append(row)
        print(f"utilization L={latency} S={s}: ours {row['busy_ours']}, peer {row['busy_peer']}", file=sys.stderr)
    return rows


def _peer_ms(peer: dict) -> tuple[float | None, bool]:
    """The peer's ms per iteration, and whether it was cut at the time limit."""
    done = len(peer["evals"])
    if "run_wall_s" in peer and done:
        return round(1000 * peer["run_wall_s"] / done, 1), False
    if done >= 2:  # stopped at the time limit: the rate between its evaluations
        ends = [e["end"] for e in peer["evals"]]
        return round(1000 * (ends[-1] - ends[0]) / (done - 1), 1), True
    return None, True


def controller(p: dict, partial=None) -> list[dict]:
    """Each size `ctl_runs` times, ours and the peer alternating (each run a fresh process): the medians."""
    rows = []
    for n in p["ctl_sizes"]:
        before = load()
        iters = p["ctl_peer_iters"][n]
        runs_ours, runs_peer = [], []
        for _ in range(p["ctl_runs"]):
            runs_ours.append(sides.fresh("ours_controller", n=n, extra=p["ctl_ours_extra"]))
            runs_peer.append(sides.peer_run(iters, eval_s=0.0, prefill=n, limit_s=p["ctl_limit_s"]))
        ours = min(runs_ours, key=lambda r: abs(r["ms_per_candidate"]
                                                - statistics.median(x["ms_per_candidate"] for x in runs_ours)))
        peer_ms = [m for m, _ in map(_peer_ms, runs_peer) if m is not None]
        peer = runs_peer[0] if not peer_ms else min(
            runs_peer, key=lambda r: abs((_peer_ms(r)[0] or 1e9) - statistics.median(peer_ms)))
        done = len(peer["evals"])
        row = {"programs": n, "runs": p["ctl_runs"], "ours_ms": round(statistics.median(
                   x["ms_per_candidate"] for x in runs_ours), 1),
               "ours_ms_runs": [x["ms_per_candidate"] for x in runs_ours],
               "peer_ms_runs": [_peer_ms(r)[0] for r in runs_peer], "ours_new": ours["new_evaluations"],
               "ours_fill_s": ours["fill_s"], "ours_load_s": ours["load_s"], "peer_iterations": iters,
               "peer_done": done, "peer_prefill_s": peer.get("prefill_s"), "peer_programs_held": peer.get("programs"),
               "load": [before, load()]}
        row["peer_ms"] = round(statistics.median(peer_ms), 1) if peer_ms else None
        if _peer_ms(peer)[1]:
            row["peer_limited_s"] = p["ctl_limit_s"]
        if not peer_ms:
            row["peer_error"] = peer.get("error", "")[-300:]
        rows.append(row)
        print(f"controller at {n}: ours {row['ours_ms']} ms, peer {row['peer_ms']} ms", file=sys.stderr)
    return rows


def _curve(evals: list[dict]) -> list[dict]:
    """Best val loss so far after each evaluation, with the time it was known."""
    best, out = None, []
    for e in evals:
        if e["status"] == "ok" and e["best_vloss"] is not None:
            best = e["best_vloss"] if best is None else min(best, e["best_vloss"])
        out.append({"eval": len(out) + 1, "t": e["end"], "best": best})
    return out


def search(p: dict, partial=None) -> dict:
    runs: dict[str, list[dict]] = {"ours": [], "peer": [], "best_of_n": []}
    n, smoke = p["search_evals"], p["search_smoke"]
    result = {"evals_per_run": n, "smoke": smoke, "delta": p["search_delta"], "runs": runs}
    # A generous timeout for all three: other jobs on the machine can make a 20 s evaluation take minutes,
    # and this benchmark measures the search, not the timeout.
    timeout = p["search_timeout_s"]
    for seed in range(p.get("search_first_seed", 0), p["search_seeds"]):
        for arm in runs:
            before = load()
            if arm == "ours":
                r = sides.fresh("ours_run", evals=n, seed=seed, smoke=smoke, timeout_s=timeout)
            elif arm == "peer":
                r = sides.peer_run(n - 1, seed=seed, smoke=smoke, timeout_s=timeout)
            else:
                r = sides.best_of_n(n, seed=seed, smoke=smoke, timeout_s=timeout)
            curve = _curve(r["evals"])
            runs[arm].append({"seed": seed, "wall_s": r["wall_s"], "evals": r["evals"], "curve": curve,
                              "load": [before, load()]})
            print(f"search {arm} seed {seed}: {len(curve)} evals, best {curve[-1]['best'] if curve else None}, "
                  f"{r['wall_s']:.0f} s", file=sys.stderr)
            if partial:
                partial(result)  # a run cut short keeps the finished runs
    return result


def hung(p: dict, partial=None) -> dict:
    t, n = p["hang_timeout_s"], p["hang_evals"]
    before = load()
    ours = sides.fresh("ours_run", evals=n, smoke=True, timeout_s=t, hang_at=2)
    peer = sides.peer_run(n - 1, smoke=True, timeout_s=t, score_timeout_s=p["hang_inner_s"], hang_at=2,
                          limit_s=p["hang_inner_s"] + 6 * t + 120)
    return {"timeout_s": t, "peer_inner_kill_s": p["hang_inner_s"], "ours": _hang_view(ours["evals"]),
            "peer": {**_hang_view(peer["evals"] + peer["unfinished"]), "wall_s": peer["wall_s"],
                     "workdir": peer["workdir"], "timeouts_reported": peer_timeouts(Path(peer["workdir"]))},
            "load": [before, load()]}


def peer_timeouts(workdir: Path) -> int:
    """Evaluations the peer reported as timed out (its evaluator's log lines; run_peer.py's handler)."""
    log = workdir / "stderr.log"
    return log.read_text().count("openevolve.evaluator:Evaluation timed out") if log.exists() else 0


def _hang_view(evals: list[dict]) -> dict:
    by_start = sorted(evals, key=lambda e: e["start"])
    hung_at = next((i for i, e in enumerate(by_start) if e["status"] in ("timeout", "never returned")), None)
    view = {"evals": by_start, "hung_found": hung_at is not None}
    if hung_at is None:
        return view
    h = by_start[hung_at]
    after = by_start[hung_at + 1:]
    view.update(hung_start=h["start"], hung_held_s=round(h["end"] - h["start"], 2), hung_status=h["status"],
                next_start_after_s=round(after[0]["start"] - h["start"], 2) if after else None,
                ok_after=sum(e["status"] == "ok" for e in after), later=len(after))
    return view


def merge_search(old: dict | None, new: dict, p: dict) -> dict:
    """`new`'s runs after the earlier result's runs of seeds below --search-first-seed."""
    first = p.get("search_first_seed", 0)
    if not old or not first:
        return new
    runs = {arm: [r for r in old["runs"].get(arm, []) if r["seed"] < first] + rs for arm, rs in new["runs"].items()}
    return {**new, "runs": runs}


def reductions(p: dict, smoke: bool) -> list[str]:
    """What this run measured less of than the full benchmark (empty for a full run)."""
    if smoke:
        return ["smoke sizes throughout"]
    out = []
    if p["search_evals"] < FULL["search_evals"]:
        out.append(f"search: {p['search_evals']} evaluations per run instead of {FULL['search_evals']}")
    if p["search_seeds"] < FULL["search_seeds"]:
        out.append(f"search: {p['search_seeds']} campaign seeds instead of {FULL['search_seeds']}")
    missing = [n for n in FULL["ctl_sizes"] if n not in p["ctl_sizes"]]
    if missing:
        out.append(f"controller: not measured at {', '.join(f'{n:,}' for n in missing)} programs")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: a check that the benchmark runs (CI)")
    ap.add_argument("--only", default="", help="comma-separated sections; the others keep their old results")
    ap.add_argument("--search-evals", type=int, default=None)
    ap.add_argument("--search-seeds", type=int, default=None, help="campaign seeds 0 .. N-1")
    ap.add_argument("--search-first-seed", type=int, default=0,
                    help="with --only search: run seeds from this one and keep the earlier run's lower seeds")
    ap.add_argument("--ctl-sizes", default=None, help="comma-separated population sizes (default 100,1000,10000)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    p = dict(SMOKE if args.smoke else FULL)
    if args.search_evals:
        p["search_evals"] = args.search_evals
    if args.search_seeds:
        p["search_seeds"] = args.search_seeds
    p["search_first_seed"] = args.search_first_seed
    if args.ctl_sizes:
        p["ctl_sizes"] = [int(x) for x in args.ctl_sizes.split(",")]
        p["ctl_peer_iters"] = {n: FULL["ctl_peer_iters"].get(n, 20) for n in p["ctl_sizes"]}
    wanted = [s for s in args.only.split(",") if s] or list(SECTIONS)
    if set(wanted) - set(SECTIONS):
        sys.exit(f"unknown section(s) {sorted(set(wanted) - set(SECTIONS))}; known: {', '.join(SECTIONS)}")
    if not sides.peer_available():
        sys.exit(f"the peer is not installed: {sides.PEER_PYTHON} (make bench/.peer/bin/python)")
    out = Path(args.out) if args.out else sides.OUT / ("peer-smoke.json" if args.smoke else "peer.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = json.loads(out.read_text()) if out.exists() and args.only else {}
    result.pop("partial", None)
    if "controller" not in wanted and result.get("controller"):
        p["ctl_sizes"] = [r["programs"] for r in result["controller"]]  # what the kept rows measured
    result.update(machine=machine(), params=p, smoke=args.smoke, reduced=reductions(p, args.smoke))
    runners = {"utilization": utilization, "controller": controller, "hung": hung, "search": search}
    for name in wanted:
        t0 = time.time()

        def partial(value, name=name):
            merged = merge_search(result.get("search"), value, p) if name == "search" and args.only else value
            out.write_text(json.dumps({**result, name: merged, "partial": name}, indent=1))

        value = runners[name](p, partial)
        if name == "search" and args.only:
            value = merge_search(result.get("search"), value, p)
        if name == "controller" and args.only and result.get("controller"):
            # another size added to an earlier run's rows
            rows = {r["programs"]: r for r in result["controller"]}
            rows.update({r["programs"]: r for r in value})
            value = [rows[n] for n in sorted(rows)]
            p["ctl_sizes"] = sorted(rows)
            result["reduced"] = reductions(p, args.smoke)
        result[name] = value
        result.setdefault("seconds", {})[name] = round(time.time() - t0, 1)
        out.write_text(json.dumps(result, indent=1))  # after each section: a late failure keeps the rest
    result["machine"]["load_at_end"] = load()
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}", file=sys.stderr)
    if args.smoke:
        print("bench-peer smoke: every section ran", file=sys.stderr)


if __name__ == "__main__":
    main()
