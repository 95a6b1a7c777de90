"""Regenerate RELIABILITY.md's figures: the hostile zoo table and the crash-resume fuzz figures.

    python bench/reliability.py                          # print the generated section
    python bench/reliability.py --update RELIABILITY.md  # rewrite it between the generated markers

Runs the same zoo and fuzz as tests/hostile and tests/reliability (real smoke training; a few minutes).
Needs the built-in dataset (`evolve data prepare`).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scoring import confine  # noqa: E402
from tests.hostile.zoo import Observation, run_zoo_in_controller  # noqa: E402
from tests.reliability.fuzz import FuzzReport, run_fuzz  # noqa: E402

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"


def _cell(text: str, limit: int = 110) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def zoo_table(observations: list[Observation]) -> str:
    rows = ["| candidate | what it does | expected | observed | reason, or fitness / test loss when ok | left behind |",
            "|---|---|---|---|---|---|"]
    for o in observations:
        h = o.hostile
        if o.skipped:
            observed, reason, left = "skipped", o.skipped, "-"
        else:
            observed = o.result.status + ("" if o.matches else " **MISMATCH**")
            r = o.result
            figures = f"fitness {r.best_vloss:.4f} / test {r.test_loss:.4f}" if r.ok and r.best_vloss else "-"
            reason, left = r.reason or figures, str(len(o.leftovers))
            if h.honest:
                reason += " (a cheat: no better than `honest_seed`)"
        rows.append(f"| `{h.name}` | {_cell(h.what, 90)} | {h.expect} | {observed} | {_cell(reason)} | {left} |")
    return "\n".join(rows)


def fuzz_figures(r: FuzzReport) -> str:
    modes = {m: r.kills.count(m) for m in dict.fromkeys(r.kills)}
    return "\n".join([
        "| figure | value |", "|---|---|",
        f"| SIGKILLs | {len(r.kills)} ({', '.join(f'{n} {m}' for m, n in modes.items())}) |",
        f"| resumes / relaunches of a launch killed before its campaign existed | {r.resumes} / {r.relaunches} |",
        f"| evaluations at the end (budget) | {r.evaluations} ({r.budget}) |",
        f"| wall time, all runs | {r.wall_s:.0f} s |",
        f"| broken promises | {len(r.problems)}{': ' + '; '.join(r.problems) if r.problems else ''} |",
    ])


def generate(kills: int, budget: int) -> str:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="evolve-reliability-") as tmp:
        observations = run_zoo_in_controller(Path(tmp) / "populations" / "zoo")
        zoo_s = time.monotonic() - t0
        fuzz = run_fuzz(Path(tmp), kills=kills, budget=budget)
    matched = sum(o.matches for o in observations)
    ran = sum(o.result is not None for o in observations)
    host = (f"{platform.system()} {platform.release()}, {platform.machine()}, Python {platform.python_version()}; "
            f"namespaces {'available' if confine.namespace_prefix() else 'NOT available'}")
    return "\n".join([
        BEGIN,
        f"Generated {time.strftime('%Y-%m-%d %H:%M')} on {host}.",
        "",
        f"### Zoo: {matched} of {ran} candidates got their expected status and reason "
        f"({len(observations) - ran} skipped), {zoo_s:.0f} s",
        "",
        zoo_table(observations),
        "",
        "### Crash-resume fuzz",
        "",
        fuzz_figures(fuzz),
        END,
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", type=Path, help="rewrite this file between the generated markers")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--budget", type=int, default=8)
    args = ap.parse_args()
    section = generate(args.kills, args.budget)
    if args.update:
        text = args.update.read_text()
        head, rest = text.split(BEGIN, 1)
        args.update.write_text(head + section + rest.split(END, 1)[1])
    print(section)


if __name__ == "__main__":
    main()
