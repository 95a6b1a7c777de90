"""Score one program file of a one-file task with our scoring, print the ScoreResult as JSON.

The peer's evaluator (bench/peer/evaluator.py, in the peer's venv without torch) runs this with our
venv's python, so both frameworks train every candidate in the same sandbox under the same budget.

    python bench/peer/score_file.py PROGRAM [--task DIR] [--seed N] [--smoke] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from scoring.api import score  # noqa: E402
from scoring.task import load_task  # noqa: E402

SINGLE_TASK = REPO / "seeds" / "tasks" / "nanogpt_single"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("program")
    ap.add_argument("--task", default=str(SINGLE_TASK))
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--timeout", type=float, default=None, help="seconds; default: the task's")
    args = ap.parse_args(argv)
    task = load_task(args.task)
    code = Path(args.program).read_text(encoding="utf-8")
    result = score({task.entry_file: code}, task, seed=args.seed, smoke=args.smoke, timeout=args.timeout)
    print(json.dumps(result.to_dict()))


if __name__ == "__main__":
    main()
