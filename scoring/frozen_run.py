"""Run a task's frozen block alone, the way the trusted referee does, and report what the harness reads.

`python -I -m scoring.frozen_run` reads a job (JSON) on stdin: the frozen block's source and the frozen names
the task's manifest points at. It runs the block twice (full and smoke budget) and writes on stdout, for
each, the value of every named setting, then draws one batch from the batch function and runs the
evaluation function on a stand-in model of uniform logits. Used by `evolve task check`
(scoring/task_check.py); the block is the task's own seed code, the same code the referee runs.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback

from scoring.jobs import FrozenRunJob
from scoring.remote import RemoteModel


def _value(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float, str)):
        return v
    return str(v)


def _error(e: BaseException) -> str:
    return traceback.format_exception_only(type(e), e)[-1].strip()[:300]


def _batch(fn) -> dict:
    import numpy as np

    out = fn()
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        return {"error": f"returned {type(out).__name__}, expected a pair (x, y)"}
    x, y = (np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t) for t in out)
    info = {"x_shape": list(x.shape), "y_shape": list(y.shape), "x_dtype": str(x.dtype), "y_dtype": str(y.dtype)}
    if x.size and x.dtype.kind in "iu":
        info.update(min_id=int(min(x.min(), y.min())), max_id=int(max(x.max(), y.max())))
        info["shifted"] = bool(x.shape == y.shape and x.ndim == 2 and (x[:, 1:] == y[:, :-1]).all())
    return info


def run_block(job: FrozenRunJob, smoke: bool) -> dict:
    os.environ["EVOLVE_SMOKE"] = "1" if smoke else "0"
    ns: dict = {"__name__": "__evolve_frozen__"}
    try:
        exec(compile(job.frozen_source, "<frozen block>", "exec"), ns)
    except BaseException as e:  # the user's code: report whatever it raised, then stop
        return {"error": f"the frozen block fails when run: {_error(e)}"}
    found = {name: _value(ns[name]) for name in job.settings if name in ns}
    out = {"values": found, "missing": [n for n in job.settings if n not in ns]}
    if not smoke:
        out["batch_function"] = _try_batch(ns, job.batch_function)
        out["eval_function"] = _try_eval(ns, job.eval_function, found.get(job.vocab_name))
    return {k: v for k, v in out.items() if v is not None}


def _try_batch(ns: dict, name: str) -> dict:
    """One batch from the batch function: its shapes and ids, or the error."""
    if not callable(ns.get(name)):
        return {"error": f"{name} is not a function"}
    try:
        return _batch(ns[name])
    except Exception as e:
        return {"error": f"{name}() raised {_error(e)}"}


def _try_eval(ns: dict, name: str, vocab: object) -> dict | None:
    """The evaluation function on a model of uniform logits, served as the referee serves one; None when the
    vocabulary size is not a positive integer (reported from the values)."""
    if not callable(ns.get(name)):
        return {"error": f"{name} is not a function"}
    if not (isinstance(vocab, int) and vocab > 0):
        return None
    uniform = _Uniform(vocab)
    try:
        value = ns[name](RemoteModel(uniform, vocab))  # the referee's stand-in for a model
        value = float(value.item() if hasattr(value, "item") else value)
    except Exception as e:
        return {"error": f"{name}(model) raised {_error(e)}"}
    return {"uniform_loss": value if math.isfinite(value) else None, "expected": math.log(vocab),
            "model_calls": uniform.calls, "whole_calls": uniform.whole_calls}


class _Uniform:
    """A model whose logits are all zero, served as the referee serves a candidate's (scoring/remote.py): the
    frozen evaluation should give ln(vocabulary) for it. Counts the batches it was asked for, and how many of
    them needed the whole logits rather than two numbers a position."""

    def __init__(self, vocab: int):
        self.vocab, self.calls, self.whole_calls = vocab, 0, 0

    def at(self, x, ids):
        import numpy as np

        self.calls += 1
        return np.full(x.shape, math.log(self.vocab)), np.zeros(ids.shape)

    def whole(self, x):
        import numpy as np

        from scoring import logits

        self.calls += 1
        self.whole_calls += 1
        if x.size * logits.row_bytes(1, self.vocab) > logits.WHOLE_LIMIT:
            raise logits.TooLarge(f"it needs a whole batch of logits ({x.size * logits.row_bytes(1, self.vocab):,} "
                                  f"bytes as float32), above the referee's limit of {logits.WHOLE_LIMIT:,} bytes")
        return np.zeros((*x.shape, self.vocab))


def main() -> None:
    job = FrozenRunJob.from_wire(json.loads(sys.stdin.read()))
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the block prints goes to stderr; stdout carries the answer alone
    result = {"full": run_block(job, smoke=False), "smoke": run_block(job, smoke=True)}
    answer.write(json.dumps(result))
    answer.flush()


if __name__ == "__main__":
    main()
