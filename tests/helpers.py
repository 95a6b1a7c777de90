"""Helpers shared by test modules: run the real `evolve` console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EVOLVE = str(Path(sys.executable).with_name("evolve"))


def run_cli(*args: str, timeout: float = 300, env: dict | None = None, cwd: str | Path | None = None):
    """`evolve ARGS...` as a user runs it; returns the CompletedProcess (text mode)."""
    return subprocess.run([EVOLVE, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def whole_logits_reading(run_dir: Path, dataset: str, T: int, B: int, n_batches: int) -> tuple[float, float]:
    """(fitness, test loss) of the snapshot a scoring left in `run_dir`, read the way the referee read them
    before logits stopped crossing the wire whole: the model run here on the plan's fixed fitness and test
    windows, row by row, each row's whole logits through a float64 log-softmax."""
    import importlib

    import numpy as np
    import torch

    from scoring import data, plan
    from scoring.runner import SNAPSHOT

    ds = data.dataset(dataset)
    dtype = np.dtype(ds.meta.get("dtype", "uint16"))
    val = np.fromfile(ds.val_path, dtype=dtype)[ds.monitor_cut :]
    p = plan.build(val, np.fromfile(ds.test_path, dtype=dtype), T, B, n_batches)
    sys.path.insert(0, str(run_dir))  # the snapshot's classes are the run's model.py
    sys.modules.pop("model", None)
    try:
        importlib.invalidate_caches()
        model = torch.load(Path(run_dir) / SNAPSHOT, weights_only=False)
        model.eval()
        losses = {}
        for role in (plan.FITNESS, plan.TEST):
            nll = []
            with torch.no_grad():
                for x, y in zip(p.x[p.role == role], p.y[p.role == role], strict=True):
                    logp = torch.log_softmax(model(torch.from_numpy(x[None])).double(), -1)[0]
                    nll.append(-logp.gather(1, torch.from_numpy(y[:, None]))[:, 0].numpy())
            losses[role] = float(np.mean(nll))
    finally:
        sys.path.remove(str(run_dir))
        sys.modules.pop("model", None)
    return losses[plan.FITNESS], losses[plan.TEST]
