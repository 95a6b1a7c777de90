"""Run the benchmarks and write BENCHMARKS.md: each section is a command and exactly what it printed.

    python bench/run_all.py [--only NAME,...] [--smoke]

The numbers are never edited by hand: rerunning this regenerates them. The block between
`<!-- peer:begin -->` and `<!-- peer:end -->` belongs to bench/peer (side-by-side with OpenEvolve) and
is kept as it is, as is the one bench/peer/history.py writes (the controller against an earlier commit).
`--smoke` runs every benchmark at a tiny size and writes nothing: a check that the
benchmark code still runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "BENCHMARKS.md"
PY = sys.executable

# name -> (title, why it matters, full command, smoke command)
SECTIONS = {
    "seed_task": (
        "The seed task on this machine",
        "Steps and tokens per second, best val and test loss with the full budget, wall time of one evaluation, "
        "and the sandbox's overhead (child start until train() is called; whole child minus train()). The "
        "spread of the val loss over seeds is the noise any improvement must beat.",
        [PY, "bench/seed_task.py", "--seeds", "5"],
        [PY, "bench/seed_task.py", "--seeds", "1", "--smoke"],
    ),
    "trusted_overhead": (
        "What the trusted evaluation costs",
        "The seed's train() run on its own (reading the data files itself, no sandbox) and the same seed scored "
        "(sandbox; the referee serves every batch and evaluation and then scores the model on windows it never "
        "sent), in turn per seed, full budget: medians of both train() times and their ratio, and the referee's "
        "final evaluation (fitness, test loss, probe) as a share of the evaluation's wall time. Goal: under 5%.",
        [PY, "bench/trusted_overhead.py", "--seeds", "5"],
        [PY, "bench/trusted_overhead.py", "--seeds", "1", "--smoke"],
    ),
    "referee_memory": (
        "The referee's memory for the final evaluation",
        "The log-probabilities the referee reads after train() returns: the whole (rows, T, V) float64 array it "
        "used to hold at once, against the batch-by-batch Reader that keeps each row's losses and, for probe "
        "pairs only, a fixed subset of 256 columns plus each position's next tokens. At the shipped tasks' shapes "
        "and at a nanoGPT-style project's with GPT-2's vocabulary.",
        [PY, "bench/referee_memory.py"],
        [PY, "bench/referee_memory.py", "--smoke"],
    ),
    "referee_gpt2": (
        "The referee at GPT-2's shapes",
        "One batch of logits through the harness, before (the whole float32 logits on the wire, read in float64 by "
        "the referee) and after (scoring/logits.py: a log-sum-exp and a digest a position, the logits at the ids "
        "asked, audited rows), at nanoGPT's GPT-2 shapes, at T=256 and at the built-in task's, with a stand-in "
        "model whose forward costs next to nothing: bytes on the wire per batch and per evaluation, the harness's "
        "seconds per batch against a published GPU forward, each side's peak memory, and the training batch's "
        "round trip.",
        [PY, "bench/referee_gpt2.py", "--json", "bench/out/referee_gpt2.json"],
        [PY, "bench/referee_gpt2.py", "--smoke"],
    ),
    "flops": (
        "Training FLOPs of the seed and of each offline edit",
        "What one training step costs (torch's FLOP counter over the first step, as every evaluation records it) "
        "and a full-budget evaluation (that times the budget's steps), for the seed and each catalog edit alone.",
        [PY, "bench/flops.py"],
        [PY, "bench/flops.py", "--edits", "muon"],
    ),
    "pareto_demo": (
        "The demo in Pareto mode against the single-objective demo",
        "seeds/campaigns/demo.toml run twice with the same campaign seed: on the built-in task, and on a copy whose "
        "objective is the Pareto front of validation loss and training FLOPs. Each campaign's front at the end, "
        "and where the single-objective winner sits against the Pareto campaign's front.",
        [PY, "bench/pareto_demo.py"],
        [PY, "bench/pareto_demo.py", "--smoke"],
    ),
    "offline_edits": (
        "Offline edits at the full budget",
        "Each edit of the offline operator's catalog applied alone to the seed program, then two stacks of edits, "
        "scored through the sandbox with the full training budget on one evaluation seed (1337), two trainings "
        "at a time on one thread each (as the demo's two slots): which changes the demo's stand-in for an LLM can "
        "find. The seed's noise is in the section above.",
        [PY, "bench/offline_edits.py", "--out", "bench/out/offline_edits_run.jsonl", "--stacks", "2",
         "--workers", "2"],
        [PY, "bench/offline_edits.py", "--out", "bench/out/offline_edits_smoke.jsonl", "--edits", "muon",
         "--stacks", "0", "--workers", "2", "--smoke"],
    ),
    "prune_calibration": (
        "Calibrating the pruning margin",
        "The offline edits' full curves (the section above), every run held to every other as its reference, as "
        "the referee's pruning rule does (scoring/prune.py): the largest lead a reference had over a run that "
        "ends better than it, by warm-up share (the margin must exceed it: a winner is never pruned), and for "
        "each margin how many pairs would be pruned, how many of them winners, and the training saved.",
        [PY, "bench/prune_calibration.py", "--curves", "bench/out/offline_edits_run.jsonl"],
        [PY, "bench/prune_calibration.py", "--curves", "bench/out/offline_edits_smoke.jsonl"],
    ),
    "demo": (
        "The demo campaign against the seed's noise",
        "`make demo`'s campaign (seeds/campaigns/demo.toml: offline operator, full budget, two slots), then the "
        "seed program on more evaluation seeds until it has five: the best candidate's val and test loss against "
        "the seed's, and the improvement as a multiple of the seed's spread over the five seeds (goal: over 3x). "
        "How deep the search went: the best's generation and the catalog edits its files hold, the trained "
        "children by whether their parent is the seed or a child, and the median staleness (evaluations finished "
        "between the choice of a candidate's parent and the start of its own evaluation). Goals (#28): the best "
        "stacks at least two edits, and most trained children descend from a child.",
        [PY, "bench/demo_result.py"],
        [PY, "bench/demo_result.py", "--smoke"],
    ),
    "prune_demo": (
        "The demo campaign with pruning off and on",
        "`make demo`'s campaign per campaign seed (0, 1, 2), with `[pruning]` off and then on (the settings' "
        "warm-up and margin), in turn: the training time spent (the referee's train() time over every "
        "evaluation), evaluations finished and pruned, the best validation loss, and the training time until a "
        "candidate first reached the seed's loss minus 0.2; on the off arm, the rule replayed on its recorded "
        "curves. Goal: the same best in at most 0.7x the training time; pruning is on in the demo only if met.",
        [PY, "bench/prune_demo.py", "--seeds", "3"],
        [PY, "bench/prune_demo.py", "--smoke"],
    ),
    "progress": (
        "LLM calls per evaluation, and rejections fed back",
        "The demo campaign (smoke budget) per campaign seed with and without the earlier attempts in its prompts: "
        "LLM calls per finished evaluation and the share of replies that duplicate an earlier program. Then two "
        "stand-ins for a model that mostly does not help (60% garbage replies; a model that repeats its first "
        "answer), through litellm over HTTP: how each campaign ended and the bound that held its calls.",
        [PY, "bench/progress.py", "--seeds", "3"],
        [PY, "bench/progress.py", "--smoke"],
    ),
    "reply_format": (
        "Whole-file replies against edits",
        "The demo campaign (smoke budget) per campaign seed, once with `[llm] reply_format = \"full\"` and once with "
        "`\"edits\"` (SEARCH/REPLACE blocks), the offline operator behind the loopback server through litellm, each "
        "reply sent after the time a model generating 60 tokens a second would take: reply characters and tokens "
        "(litellm's count) per call, prompt characters, the share of replies that applied, LLM seconds per call, "
        "slot utilization, the queue the pacing rule keeps for that latency, and the best reached. Goal (#31): at "
        "least 4x fewer reply characters, a shallower queue for the same utilization, no loss of best.",
        [PY, "bench/reply_format.py", "--seeds", "3", "--tokens-per-s", "60"],
        [PY, "bench/reply_format.py", "--smoke"],
    ),
    "ray_throughput": (
        "Ray against the local executor",
        "Evaluations per minute of a --smoke campaign with the local executor and 1, 2, 4 ... (up to the cores) Ray "
        "slots on a local head node, and the dispatch overhead Ray adds per evaluation.",
        [PY, "bench/ray_throughput.py"],
        [PY, "bench/ray_throughput.py", "--evals", "2", "--slots", "1", "--overhead-reps", "3"],
    ),
    "search_depth": (
        "Evolution against best-of-N and the peer as the budget grows",
        "The single-file task (MAX_ITERS 100) at 18, 36 and 72 evaluations, 3 campaign seeds: our campaign, best-of-N "
        "(every child a direct child of the seed) and OpenEvolve, the same offline operator (through the loopback "
        "LLM for the two searches), one slot each, two runs at a time. Each runs once per seed at 72 evaluations and "
        "is read anytime at each budget: the best's mean and spread, the share of the greedy hand-stacked gain it "
        "recovers, its depth (catalog edits stacked), ours' median staleness. `--resume` keeps the runs already in "
        "bench/out/search_depth.json (the reference: `python bench/search_depth.py --reference`).",
        [PY, "bench/search_depth.py", "--resume"],
        [PY, "bench/search_depth.py", "--smoke", "--resume"],
    ),
    "lineage_scale": (
        "The lineage database at 100,000 candidates",
        "A synthetic campaign (depth up to 1,000, 5 islands, 5 personas) on SQLite: size, insert rate, and the "
        "latency of the queries users run.",
        [PY, "bench/lineage_scale.py"],
        [PY, "bench/lineage_scale.py", "--n", "2000", "--out", "bench/out/lineage_smoke.db"],
    ),
}


def machine() -> str:
    import torch

    load = os.getloadavg()
    return (f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}; load average before the run "
            f"{load[0]:.2f}")


def run(cmd: list[str]) -> tuple[str, float]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r.stdout.strip(), time.perf_counter() - t0


def peer_block() -> str:
    """The blocks bench/peer writes: the side-by-side (always), the histories (when they were measured)."""
    old = OUT.read_text() if OUT.is_file() else ""
    m = re.search(r"<!-- peer:begin -->.*?<!-- peer:end -->", old, re.S)
    missing = "<!-- peer:begin -->\n(not measured yet: `make bench` runs bench/peer)\n<!-- peer:end -->"
    peer = m.group(0) if m else missing
    kept = [h.group(0) for name in ("controller", "utilization")
            if (h := re.search(rf"<!-- {name}_history:begin -->.*?<!-- {name}_history:end -->", old, re.S))]
    return "\n\n".join([peer, *kept])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated section names (others keep their old text)")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    wanted = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        sys.exit(f"unknown section(s): {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    old = OUT.read_text() if OUT.is_file() else ""
    parts = []
    for name, (title, why, full, smoke) in SECTIONS.items():
        cmd = smoke if args.smoke else full
        if name not in wanted:
            m = re.search(rf"<!-- {name}:begin -->.*?<!-- {name}:end -->", old, re.S)
            parts.append(m.group(0) if m else f"<!-- {name}:begin -->\n## {title}\n\n(not run)\n<!-- {name}:end -->")
            continue
        print(f"running {name}: {' '.join(cmd)}", file=sys.stderr)
        text, seconds = run(cmd)
        shown = " ".join(c if c != PY else "python" for c in cmd)
        parts.append(f"<!-- {name}:begin -->\n## {title}\n\n{why}\n\n`{shown}` ({time.strftime('%Y-%m-%d')}, "
                     f"{seconds:.0f} s; {machine()}):\n\n```\n{text}\n```\n<!-- {name}:end -->")
    if args.smoke:
        print("bench smoke: every benchmark ran", file=sys.stderr)
        return
    doc = ("# Benchmarks\n\nEvery figure below is what the quoted command printed on the machine named beside it; "
           "`make bench` regenerates this file (`python bench/run_all.py --only NAME` one section). Speed is "
           "measured here, never asserted by tests.\n\n" + "\n\n".join(parts) + "\n\n" + peer_block() + "\n")
    tmp = OUT.with_suffix(".md.tmp")
    tmp.write_text(doc)
    os.replace(tmp, OUT)
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
