"""BENCHMARKS.md's peer section from bench/out/peer.json (written by bench/peer/compare.py).

    python bench/peer/render.py [--json bench/out/peer.json] [--write BENCHMARKS.md]

Prints the markdown; with --write, puts it between the `<!-- peer:begin -->` and `<!-- peer:end -->`
markers of that file (created with just the markers if missing) and touches nothing outside them.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- peer:begin -->", "<!-- peer:end -->"


def _ratio(ours: float | None, peer: float | None, digits: int = 2) -> str:
    if ours is None or peer is None or peer == 0:
        return "n/a"
    return f"{ours / peer:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _mean_sd(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return f"{xs[0]:.4f} (one run)"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f} (min {min(xs):.4f}, max {max(xs):.4f})"


def utilization(rows: list[dict]) -> list[str]:
    out = ["| L (LLM latency) | S (evaluation) | evaluations ours / peer | slot busy, ours | slot busy, peer "
           "| ratio ours / peer | wall s ours / peer | load 1 min before, after |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['L_s']:g} s | {r['S_s']:g} s | {r['evals_ours']} / {r['evals_peer']} | "
                   f"{_pct(r['busy_ours'])} ({r['proposers_ours']} proposers) | {_pct(r['busy_peer'])} | "
                   f"{_ratio(r['busy_ours'], r['busy_peer'])} | {r['wall_ours_s']:.1f} / {r['wall_peer_s']:.1f} | "
                   f"{r['load'][0]}, {r['load'][1]} |")
    return out


def _runs(values: list | None) -> str:
    return "" if not values or len(values) < 2 else " (runs: " + ", ".join(
        "-" if v is None else f"{v:.1f}" for v in values) + ")"


def controller(rows: list[dict]) -> list[str]:
    runs = rows[0].get("runs", 1) if rows else 1
    out = [f"Median of {runs} run(s) per size, ours and the peer alternating." if runs > 1 else "One run per size.",
           "", "| programs already in the population | ours, ms per candidate | peer, ms per candidate "
           "| ratio ours / peer | measured over (ours; peer) | load before, after |", "|---|---|---|---|---|---|"]
    for r in rows:
        peer = "did not finish one iteration" if r["peer_ms"] is None else f"{r['peer_ms']:.1f}"
        if r.get("peer_limited_s"):
            peer += f" (stopped at the {r['peer_limited_s']} s limit after {r['peer_done']} of " \
                    f"{r['peer_iterations']} iterations)"
        peer += _runs(r.get("peer_ms_runs"))
        if r.get("peer_programs_held") is not None:
            peer += f"; it held {r['peer_programs_held']:,} programs"
        ours = (f"{r['ours_ms']:.1f}{_runs(r.get('ours_ms_runs'))} (+ {r['ours_load_s']:.2f} s to load the lineage, "
                "once per resume)")
        out.append(f"| {r['programs']:,} | {ours} | {peer} | {_ratio(r['ours_ms'], r['peer_ms'])} | "
                   f"{r['ours_new']} new candidates; {r['peer_done']} iterations | {r['load'][0]}, {r['load'][1]} |")
    return out


def _reach(curve: list[dict], target: float) -> int | None:
    return next((c["eval"] for c in curve if c["best"] is not None and c["best"] <= target), None)


def search(s: dict) -> list[str]:
    runs = s["runs"]
    seed_losses = [e["best_vloss"] for rs in runs.values() for r in rs for e in r["evals"][:1]
                   if e["status"] == "ok" and e["best_vloss"] is not None]
    seed_vloss = statistics.mean(seed_losses) if seed_losses else None
    target = None if seed_vloss is None else seed_vloss - s["delta"]
    n = s["evals_per_run"]
    out = [f"{max(len(rs) for rs in runs.values())} campaign seed(s) per contestant, {n} evaluations each (the seed "
           f"program's own evaluation included), {'smoke' if s['smoke'] else 'full'} training budget. "
           + (f"Seed program: val loss {seed_vloss:.4f}; target: {target:.4f} (an improvement of {s['delta']})."
              if target is not None else "The seed program did not score ok."), "",
           "| contestant | best val loss after all evaluations (mean ± sd) | evaluations to reach the target "
           "(per seed) | wall s per run (mean) | evaluations not ok |", "|---|---|---|---|---|"]
    finals = {}
    for arm, rs in runs.items():
        if not rs:
            out.append(f"| {arm.replace('_', '-')} | not run | | | |")
            continue
        finals[arm] = [r["curve"][-1]["best"] for r in rs if r["curve"] and r["curve"][-1]["best"] is not None]
        reach = [_reach(r["curve"], target) if target is not None else None for r in rs]
        reach_s = ", ".join(str(x) if x else f">{len(r['curve'])}" for x, r in zip(reach, rs, strict=True))
        bad = sum(e["status"] != "ok" for r in rs for e in r["evals"])
        walls = [r["wall_s"] for r in rs]
        out.append(f"| {arm.replace('_', '-')} | {_mean_sd(finals[arm])} | {reach_s} | "
                   f"{statistics.mean(walls):.0f} | {bad} of {sum(len(r['evals']) for r in rs)} |")
    if finals.get("ours") and finals.get("peer"):
        out += ["", f"Ratio of mean final best val loss, ours / peer: "
                f"{_ratio(statistics.mean(finals['ours']), statistics.mean(finals['peer']), 4)}."]
    out += ["", "Best val loss so far against evaluations (mean over seeds; `-` before the first ok evaluation):",
            "", "| evaluation | " + " | ".join(a.replace("_", "-") for a in runs) + " |",
            "|---|" + "---|" * len(runs)]
    for k in range(n):
        cells = []
        for rs in runs.values():
            vals = [r["curve"][k]["best"] for r in rs if len(r["curve"]) > k and r["curve"][k]["best"] is not None]
            ts = [r["curve"][k]["t"] for r in rs if len(r["curve"]) > k]
            cells.append(f"{statistics.mean(vals):.4f} at {statistics.mean(ts):.0f} s" if vals else "-")
        out.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    return out


def hung(h: dict) -> list[str]:
    def row(name: str, v: dict, note: str) -> str:
        if not v.get("hung_found"):
            return f"| {name} | the hung candidate never came back as a timeout in this run | | | {note} |"
        nxt = "never, within the run" if v.get("next_start_after_s") is None else f"{v['next_start_after_s']:.1f} s"
        held = f"{v['hung_held_s']:.1f} s"
        if v.get("hung_status") == "never returned":
            held += " and still running when the run ended"
        later = f"{v['ok_after']} of {v['later']}" if v["later"] else "none ran"
        return f"| {name} | {held} | {nxt} | {later} | {note} |"

    o, p = h["ours"], h["peer"]
    out = [f"One candidate whose `train()` never returns (the 2nd LLM reply), smoke budget, one slot, a "
           f"{h['timeout_s']:g} s evaluation timeout given to both.", "",
           "| framework | the hung evaluation held the slot | next evaluation started after | later evaluations ok "
           "| how |", "|---|---|---|---|---|",
           row("ours", o, "the sandbox kills the candidate's process group at the timeout; the slot is free at "
                          "once"),
           row("peer", p, f"its timeout (asyncio.wait_for around a thread) gives up waiting but cannot stop the "
                          f"call; the thread keeps the evaluator's only worker until the call returns by itself "
                          f"(here our scoring's own kill at {h['peer_inner_kill_s']:g} s; an evaluator without "
                          f"one never returns). It reported {p.get('timeouts_reported')} evaluations as timed out: "
                          f"the hung one and those queued behind it, which never ran")]
    if o.get("next_start_after_s") and p.get("next_start_after_s"):
        out += ["", f"Ratio, time until the slot goes on, ours / peer: "
                    f"{_ratio(o['next_start_after_s'], p['next_start_after_s'])}."]
    return out


def render(data: dict) -> str:
    m = data["machine"]
    lines = [BEGIN, "## Side by side with OpenEvolve", "",
             f"Measured {m['date']} on {m['machine']}, {m['cores']} cores, {m['os']}, Python {m['python']}, "
             f"torch {m['torch']}; persona-evolve {m['persona_evolve']}, openevolve {m['openevolve']} (own venv "
             f"bench/.peer). 1-minute load average {m['load_at_start']} at the start, "
             f"{m.get('load_at_end', '?')} at the end (other jobs share this machine; each table gives the load "
             f"around its runs).", "",
             "Both frameworks talk to the same loopback LLM (bench/peer/loopback.py: the offline operator's edits as "
             "full files, fixed added latency), evaluate with our scoring on the single-file task "
             "(seeds/tasks/nanogpt_single: model and training in train_mps.py, MAX_ITERS 100) or with a "
             "fixed-length stand-in where only the pipeline is measured, one evaluation slot each. The peer is "
             "configured by bench/peer/config.yaml (full rewrites, no retries, 2 islands) with "
             "bench/peer/evaluator.py. Command: `python bench/peer/compare.py"
             + (" --smoke" if data.get("smoke") else "") + " && python bench/peer/render.py --write BENCHMARKS.md`"
             + (" (SMOKE SIZES: a check that the code runs, not a measurement)" if data.get("smoke") else "")
             + ".", ""]
    if data.get("reduced"):
        lines += ["**Reduced run**, measured less than `make bench` does: " + "; ".join(data["reduced"]) + ".", ""]
    if data.get("partial"):
        lines += [f"**Incomplete**: the {data['partial']} section was cut short; its finished runs are shown.", ""]
    if "utilization" in data:
        lines += ["### 1. Pipeline utilization", "",
                  "Share of wall time the one evaluation slot is busy, LLM latency L, evaluations of exactly S "
                  "seconds. Ours runs ceil(L/S)+1 proposers ahead of the slot; the peer's worker asks the LLM "
                  "and then evaluates, one after the other.", ""] + utilization(data["utilization"]) + [""]
    if "controller" in data:
        lines += ["### 2. Controller overhead", "",
                  "Wall time per candidate with an instant LLM (loopback, no added latency) and instant "
                  "evaluation, after N programs were put into the population (ours: a launched campaign's seed, "
                  "N - 1 finished candidates written below it in bulk by bench/fill.py, then resumed for the new "
                  "candidates, timed after it loaded its lineage; the peer: N scored programs added to its "
                  "in-memory database, then run). Both LLMs answer from a process of their own, and each of our "
                  "runs is a fresh process, as each of the peer's is. "
                  "The peer keeps one program per MAP-Elites cell (default grid) and deletes "
                  "the displaced ones, so it holds far fewer than N: its figure is at the population it keeps.",
                  ""] \
            + controller(data["controller"]) + [""]
    if "search" in data:
        lines += ["### 3. Search efficiency", "",
                  "Real training on the single-file task, one slot, no LLM latency. Ours: 2 islands, personas, "
                  "mutate/crossover/repair, no confirmation seeds (every candidate costs one evaluation, as in the "
                  "peer). Best-of-N: every child is one offline-operator mutation of the seed.", ""] \
            + search(data["search"]) + [""]
    if "hung" in data:
        lines += ["### 4. Hung candidate", ""] + hung(data["hung"]) + [""]
    seconds = data.get("seconds", {})
    if seconds:
        lines += ["Section wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + "."]
    lines.append(END)
    return "\n".join(lines)


def write_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Put `section` (which starts with `begin` and ends with `end`) in place of the old one, atomically."""
    text = path.read_text() if path.exists() else f"{begin}\n{end}\n"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    new = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, count=1, flags=re.S)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(new)
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=str(REPO / "bench" / "out" / "peer.json"))
    ap.add_argument("--write", default=None, help="a markdown file whose peer markers receive the section")
    args = ap.parse_args()
    section = render(json.loads(Path(args.json).read_text()))
    if args.write:
        write_section(Path(args.write), section)
    else:
        print(section)


if __name__ == "__main__":
    main()
