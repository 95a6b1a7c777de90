"""The demo campaign with the Pareto objective against the single-objective demo, side by side.

Runs seeds/campaigns/demo.toml twice in a scratch folder, with the same campaign seed: on the built-in
task (minimize the validation loss) and on a copy of it whose task.toml says
`objective = "pareto best_vloss train_flops"`. Prints each campaign's front over (validation loss,
training FLOPs) at the end, and where the single-objective winner sits against the Pareto campaign's
front.

    python bench/pareto_demo.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evolve import pareto  # noqa: E402
from scoring.task import builtin_task_dir  # noqa: E402


def _campaign(work: Path, name: str, task: Path, smoke: bool) -> tuple[dict, float]:
    cmd = [str(Path(sys.executable).with_name("evolve")), "launch", "--config", str(REPO / "seeds" / "campaigns" /
           "demo.toml"), "--task", str(task), "--name", name, "--json"]
    if smoke:
        cmd += ["--smoke", "--max-evals", "4"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"campaign {name} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout), time.perf_counter() - t0


def _ok(work: Path, name: str) -> list[tuple[int, float, float, str]]:
    with sqlite3.connect(f"file:{work / 'populations' / name / 'lineage.db'}?mode=ro", uri=True) as con:
        return con.execute("select id, fitness, train_flops, operator from candidates where status = 'ok' "
                           "and fitness is not null order by fitness").fetchall()


def _point(row: tuple) -> tuple[float, float]:
    return (row[1], math.inf if row[2] is None else row[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny budget and 4 evaluations: a check that it runs")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evolve-pareto-bench-"))
    task = work / "task_pareto"
    shutil.copytree(builtin_task_dir(), task)
    manifest = task / "task.toml"
    text = manifest.read_text()
    assert 'objective = "minimize best_vloss"' in text
    pareto_line = 'objective = "pareto best_vloss train_flops"'
    manifest.write_text(text.replace('objective = "minimize best_vloss"', pareto_line))
    fronts = {}
    for name, folder in (("single", builtin_task_dir()), ("pareto", task)):
        s, seconds = _campaign(work, name, folder, args.smoke)
        rows = _ok(work, name)
        front = [rows[i] for i in pareto.front([_point(r) for r in rows])]
        fronts[name] = (rows, front)
        seed = next((r for r in rows if r[3] == "seed"), None)
        print(f"{name}: {s['evaluations']} evaluations in {seconds / 60:.1f} min, {len(rows)} ok candidates; "
              f"seed #{seed[0]} {seed[1]:.4f} at {seed[2]:.3g} FLOPs" if seed else f"{name}: no ok seed")
        print(f"  front ({len(front)}): " + ", ".join(f"#{r[0]} {r[1]:.4f} @ {r[2]:.3g}" for r in
                                                     sorted(front, key=lambda r: r[2] or math.inf)))
    (single_rows, _), (_, pareto_front) = fronts["single"], fronts["pareto"]
    winner = single_rows[0]
    beaten_by = [r for r in pareto_front if pareto.dominates(_point(r), _point(winner))]
    cheaper_close = [r for r in pareto_front if r[2] is not None and winner[2] is not None and r[2] < winner[2]
                     and r[1] <= winner[1] + 0.02]
    same = [r for r in pareto_front if abs(r[1] - winner[1]) < 1e-3 and r[2] == winner[2]]
    print(f"single-objective winner #{winner[0]}: {winner[1]:.6f} at {winner[2]:.4g} FLOPs; "
          + (f"dominated by {len(beaten_by)} of the Pareto campaign's front "
             f"({', '.join(f'#{r[0]} {r[1]:.6f} @ {r[2]:.4g}' for r in beaten_by)})" if beaten_by
             else "not dominated by the Pareto campaign's front")
          + (f"; the same cost and a loss within 0.001 (below the seed's noise) as #{same[0][0]}" if same else "")
          + f"; {len(cheaper_close)} front member(s) within 0.02 of its loss at fewer FLOPs")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
