"""OpenEvolve's evaluation file for the side-by-side benchmarks (runs inside the peer's venv).

`evaluate(program_path)` returns the peer's metrics dict; `combined_score` is minus the best validation
loss, since OpenEvolve maximizes it. Settings come from the environment the harness sets:

- BENCH_EVAL_MODE=score (default): train the program with OUR scoring (bench/peer/score_file.py run by
  BENCH_OURS_PY, our venv's python) on the single-file task; BENCH_SMOKE=1 for the smoke budget,
  BENCH_SCORE_TIMEOUT seconds for our sandbox's own kill (default: the task's).
- BENCH_EVAL_MODE=fixed: no training; the evaluation takes exactly BENCH_EVAL_S seconds and scores a
  little better each time (the pipeline and controller benchmarks).

Every evaluation appends one JSON line when it starts ({"started"}) and one when it ends (start, end,
status, best_vloss) to BENCH_EVAL_LOG, so the harness measures the slot the same way for both frameworks
and sees an evaluation that never ends.
"""

import json
import os
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_count = 0


def _log(record: dict) -> None:
    path = os.environ.get("BENCH_EVAL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _metrics(vloss, status: str) -> dict:
    if vloss is None:
        return {"combined_score": -100.0, "ok": 0.0}
    return {"combined_score": -float(vloss), "val_loss": float(vloss), "ok": 1.0 if status == "ok" else 0.0}


def evaluate(program_path: str) -> dict:
    global _count
    start = time.time()
    _log({"started": start})
    if os.environ.get("BENCH_EVAL_MODE", "score") == "fixed":
        seconds = float(os.environ.get("BENCH_EVAL_S", "0"))
        if seconds:
            time.sleep(seconds)
        _count += 1
        vloss, status = 3.0 - 1e-4 * _count, "ok"
    else:
        cmd = [os.environ.get("BENCH_OURS_PY", "python3"), str(HERE / "score_file.py"), program_path]
        if os.environ.get("BENCH_SMOKE") == "1":
            cmd.append("--smoke")
        if os.environ.get("BENCH_SCORE_TIMEOUT"):
            cmd += ["--timeout", os.environ["BENCH_SCORE_TIMEOUT"]]
        out = subprocess.run(cmd, capture_output=True, text=True)
        try:
            result = json.loads(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            result = {"status": "crashed", "best_vloss": None, "reason": out.stderr[-500:]}
        vloss, status = result.get("best_vloss"), result.get("status", "crashed")
    _log({"start": start, "end": time.time(), "status": status, "best_vloss": vloss})
    return _metrics(vloss if status == "ok" else None, status)
