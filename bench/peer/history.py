"""Ours against an earlier commit, side by side in one run: the controller's cost per candidate (and the
peer's), or the pipeline's utilization.

    python bench/peer/history.py --before REV [--sizes 100,1000,10000] [--runs 3] [--write BENCHMARKS.md]
    python bench/peer/history.py --before REV --section utilization [--runs 5] [--smoke] [--write BENCHMARKS.md]

For each size, `--runs` times in turn: our controller at commit REV (a git worktree in a scratch folder),
our controller as checked out, then the peer (OpenEvolve), each in a fresh process, exactly as the
controller section of compare.py measures them (instant LLM and evaluation, N programs already there).
Then one instrumented run of ours at the smallest size splits the process's CPU time between the LLM
call, screening the reply and the loop thread. Prints a Markdown section; with --write, puts it between
`<!-- controller_history:begin -->` and `<!-- controller_history:end -->` (bench/run_all.py keeps it).

`--section utilization`: for L = S and L = 4S (S = 1 s, 20 evaluations, as compare.py's utilization),
`--runs` times in turn, the share of wall time the one slot is busy at commit REV and as checked out.
Its section sits between `<!-- utilization_history:begin -->` and `<!-- utilization_history:end -->`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.peer import sides  # noqa: E402
from bench.peer.compare import FULL, SMOKE, _peer_ms, load  # noqa: E402
from bench.peer.render import write_section  # noqa: E402

BEGIN, END = "<!-- controller_history:begin -->", "<!-- controller_history:end -->"
UTIL_BEGIN, UTIL_END = "<!-- utilization_history:begin -->", "<!-- utilization_history:end -->"


def in_tree(tree: Path, name: str, **kwargs) -> dict:
    """`name(**kwargs)` of the tree's own bench/peer/sides.py (so its own code), in a fresh process."""
    r = subprocess.run([sys.executable, str(tree / "bench" / "peer" / "sides.py"), name, json.dumps(kwargs)],
                       capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(f"{name} at {tree} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def ours(tree: Path, n: int, extra: int) -> float:
    """ms per candidate of the controller in `tree`."""
    return in_tree(tree, "ours_controller", n=n, extra=extra)["ms_per_candidate"]


def busy(tree: Path, latency_s: float, eval_s: float, evals: int) -> float:
    """The share of wall time the slot is busy in one campaign of the tree's own code (sides.ours_run)."""
    out = in_tree(tree, "ours_run", evals=evals, latency_s=latency_s, eval_s=eval_s)
    return out["busy_s"] / out["wall_s"]


def utilization_rows(tree: Path, runs: int, p: dict) -> list[dict]:
    s, n = p["util_s"], p["util_evals"]
    rows = []
    for latency in (s, 4 * s):
        row = {"L_s": latency, "S_s": s, "before": [], "after": [], "load": [load()]}
        for k in range(runs):
            row["before"].append(busy(tree, latency, s, n))
            row["after"].append(busy(REPO, latency, s, n))
            print(f"L={latency} run {k + 1}: before {row['before'][-1]:.3f}, after {row['after'][-1]:.3f}",
                  file=sys.stderr, flush=True)
        row["load"].append(load())
        rows.append(row)
    return rows


def render_utilization(before: str, rows: list[dict], when: str, evals: int) -> str:
    runs = len(rows[0]["before"]) if rows else 0
    lines = [UTIL_BEGIN, "## Pipeline utilization against an earlier commit", "",
             f"`python bench/peer/history.py --before {before} --section utilization` ({when}): the share of wall "
             f"time the one evaluation slot is busy (compare.py's utilization: LLM latency L through the loopback "
             f"server, fixed evaluations of S seconds, {evals} evaluations), median of {runs} runs (the "
             f"runs), commit {before} and this checkout in turn. A background job may share the machine: the load "
             "column says how much.", "",
             f"| L | S | before ({before}) | after | after - before | load before, after |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        b, a = statistics.median(r["before"]), statistics.median(r["after"])
        shares = {k: ", ".join(f"{v:.0%}" for v in r[k]) for k in ("before", "after")}
        lines.append(f"| {r['L_s']:g} s | {r['S_s']:g} s | {b:.0%} ({shares['before']}) | {a:.0%} "
                     f"({shares['after']}) | {100 * (a - b):+.1f} points | {r['load'][0]}, {r['load'][1]} |")
    return "\n".join([*lines, UTIL_END])


def cpu_split(n: int, extra: int) -> dict:
    """One run of ours with the proposer's two steps timed on their thread's CPU clock."""
    code = f"""
import json, statistics, sys, time
sys.path.insert(0, {str(REPO)!r})
from bench.peer import sides
from bench.fill import FixedExecutor, fill_campaign
from bench.peer.loopback import BenchServer
from evolve import proposals
from evolve.launch import prepare_launch, prepare_resume, run_session
from evolve.screen import screen
cpu = {{"llm": [], "screen": []}}
def timed(self, planned):
    t0 = time.thread_time()
    rec = self.llm.complete(planned.prompt.text, planned.spec, seed=planned.call_seed,
                            request=planned.prompt.request)
    t1 = time.thread_time()
    s = screen(self.task, planned.proposal.parent_files, rec.reply) if rec.ok else None
    cpu["llm"].append(t1 - t0); cpu["screen"].append(time.thread_time() - t1)
    return rec, s
proposals.Proposer.ask = timed
with BenchServer(sides.single_task()) as server:
    name = f"bench-history-{{time.time_ns()}}"
    no_exec = lambda t, c: FixedExecutor(0.0)
    session = prepare_launch(sides._ours_cfg(server.url, 1, backoff=False), name, executor_factory=no_exec)
    run_session(session)
    stored = fill_campaign(session, {n} - 1)
    resumed = prepare_resume(name, budget={{"max_evals": stored + {extra}}}, executor_factory=no_exec)
    cpu = {{k: [] for k in cpu}}
    w0, p0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
    run_session(resumed)
    out = {{"wall": time.perf_counter() - w0, "process": time.process_time() - p0, "loop": time.thread_time() - m0,
           "llm": sum(cpu["llm"]), "screen": sum(cpu["screen"]), "proposals": len(cpu["llm"])}}
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        raise RuntimeError(f"cpu split failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _med(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def _runs(values: list) -> str:
    return ", ".join("-" if v is None else f"{v:.1f}" for v in values)


def render(before: str, rows: list[dict], split: dict, extra: int, when: str) -> str:
    n_runs = len(rows[0]["before"]) if rows else 0
    lines = [BEGIN, "## Controller cost against an earlier commit", "",
             f"`python bench/peer/history.py --before {before}` ({when}): ms per candidate (instant LLM and "
             f"evaluation, {extra} new candidates after N programs), median of {n_runs} runs (the runs), each size "
             f"measured in turn: commit {before}, then this checkout, then the peer. Both of ours run with the "
             "progress guard's backoff off (`sides.NO_BACKOFF`): it is a deliberate wait after proposals that gave "
             "nothing to train, which an instant offline operator soon makes (it repeats itself), not the "
             "controller's cost. A background job may share the machine: the load column says how much.", "",
             f"| programs | before ({before}) | after | after / before | peer | after / peer | load before, after |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        b, a, p = _med(r["before"]), _med(r["after"]), _med(r["peer"])
        peer = "-" if p is None else f"{p:.1f} ({_runs(r['peer'])})"
        ratio = "-" if p is None else f"{a / p:.2f}"
        lines.append(f"| {r['programs']:,} | {b:.1f} ({_runs(r['before'])}) | {a:.1f} ({_runs(r['after'])}) | "
                     f"{a / b:.2f} | {peer} | {ratio} | {r['load'][0]}, {r['load'][1]} |")
    k = split["proposals"] or 1
    lines += ["", f"Where the CPU goes (this checkout, one run at {rows[0]['programs']:,} programs, thread CPU "
              f"clocks, per proposal): the process {1000 * split['process'] / k:.1f} ms of CPU in "
              f"{1000 * split['wall'] / k:.1f} ms of wall time; the LLM call {1000 * split['llm'] / k:.1f} ms, "
              f"screening the reply {1000 * split['screen'] / k:.1f} ms (both in proposer threads), the loop thread "
              f"{1000 * split['loop'] / k:.1f} ms. The threads share one interpreter lock, so the process's CPU time "
              "bounds its wall time. The peer screens nothing: it parses no syntax tree, checks no frozen protocol, "
              "and calls its model through the OpenAI client, not litellm.", "",
              "This table supersedes the controller table of the side-by-side above when it is newer.", END]
    return "\n".join(lines)


def same_settings(tree: Path) -> None:
    """The earlier commit's controller run with this one's settings: the progress guard's backoff off
    (sides.NO_BACKOFF), patched into its bench/peer/sides.py when it predates the option."""
    path = tree / "bench" / "peer" / "sides.py"
    text = path.read_text()
    if "NO_BACKOFF" in text:
        return
    old = '"llm": {"concurrency": concurrency, "retries": 0}'
    if old not in text:
        raise SystemExit(f"cannot give {path} the settings of this checkout: {old!r} is not in it")
    path.write_text(text.replace(old, '"llm": {"concurrency": concurrency, "retries": 0, '
                                      f'**{sides.NO_BACKOFF!r}}}', 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the earlier commit")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--extra", type=int, default=100, help="new candidates timed per run")
    ap.add_argument("--write", default=None, help="the Markdown file to put the section in")
    ap.add_argument("--section", choices=("controller", "utilization"), default="controller")
    ap.add_argument("--smoke", action="store_true", help="utilization only: compare.py's smoke sizes")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    if not sides.peer_available():
        sys.exit(f"the peer is not installed: {sides.PEER_PYTHON} (make bench/.peer/bin/python)")
    with tempfile.TemporaryDirectory(prefix="history-") as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-f", str(tree), args.before], cwd=REPO, check=True,
                       capture_output=True)
        try:
            if args.section == "utilization":
                p = SMOKE if args.smoke else FULL
                text = render_utilization(args.before, utilization_rows(tree, args.runs, p), time.strftime("%Y-%m-%d"),
                                          p["util_evals"])
                print(text)
                if args.write:
                    write_section(Path(args.write), text, UTIL_BEGIN, UTIL_END)
                return
            same_settings(tree)
            rows = []
            for n in sizes:
                row = {"programs": n, "before": [], "after": [], "peer": [], "load": [load()]}
                for k in range(args.runs):
                    row["before"].append(ours(tree, n, args.extra))
                    row["after"].append(ours(REPO, n, args.extra))
                    peer = sides.peer_run(FULL["ctl_peer_iters"].get(n, 20), eval_s=0.0, prefill=n,
                                          limit_s=FULL["ctl_limit_s"])
                    row["peer"].append(_peer_ms(peer)[0])
                    print(f"{n} run {k + 1}: before {row['before'][-1]}, after {row['after'][-1]}, "
                          f"peer {row['peer'][-1]}", file=sys.stderr, flush=True)
                row["load"].append(load())
                rows.append(row)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
    split = cpu_split(sizes[0], args.extra)
    text = render(args.before, rows, split, args.extra, time.strftime("%Y-%m-%d"))
    print(text)
    if args.write:
        write_section(Path(args.write), text, BEGIN, END)


if __name__ == "__main__":
    main()
