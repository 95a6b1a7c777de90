"""The trusted runner: the first code in the sandboxed child, before any candidate code.

`python -I -m scoring.runner JOB` reads the job file (and deletes it), sets resource limits, runs the
task's frozen block once in a namespace of its own (the reference values), imports the candidate's entry
module and hooks its frozen functions, calls `train()`, verifies, and writes a result file that carries
the job's nonce. The parent trusts only that file, never stdout.

Hooks: the frozen evaluation and batch functions get their code object replaced by a trampoline, so every
call counts, including calls through an alias taken at import time. The evaluation hook records each loss
and the model it was computed on: the fitness is the lowest recorded loss, not what train() says.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import threading
import time
import traceback
import types

from scoring import tamper

OK, CRASHED, INVALID, INTEGRITY, CAUSAL = "ok", "crashed", "invalid_result", "integrity_violation", "causal_leak"
RETURN_TOLERANCE = 1e-4  # train()'s claimed best loss may differ from the recorded one by rounding only


class _Stop(BaseException):
    """Raised inside train() when it breaks the protocol; a BaseException so `except Exception` misses it."""


class Verdict(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _set_limits(job: dict) -> None:
    if job.get("mem_limit_mb") and hasattr(resource, "RLIMIT_AS"):
        limit = int(job["mem_limit_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if job.get("file_limit_mb"):
        limit = int(job["file_limit_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Recorder:
    """What the hooks saw while train() ran."""

    def __init__(self, budget: int, max_evals: int):
        self.budget, self.max_evals = budget, max_evals
        self.batches = 0
        self.losses: list[float] = []
        self.model = None  # the model estimate_loss saw last: probed and tested after train()
        self.violation: str | None = None

    def stop(self, reason: str):
        self.violation = self.violation or reason
        raise _Stop(reason)


def _innermost(fn):
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def _hook(module: types.ModuleType, name: str, hook) -> types.FunctionType:
    """Route every call of `module.name` (and of its aliases) through `hook(original, *args)`."""
    fn = _innermost(getattr(module, name))
    if not isinstance(fn, types.FunctionType) or fn.__code__.co_freevars:
        raise Verdict(INTEGRITY, f"frozen function {name} is not the plain function its frozen block defines")
    original = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    slot = f"__evolve_hook_{name}__"
    namespace: dict = {}
    exec(f"def {name}(*args, **kwargs):\n    return {slot}(*args, **kwargs)\n", namespace)
    fn.__globals__[slot] = lambda *a, **kw: hook(original, *a, **kw)
    fn.__code__ = namespace[name].__code__
    return fn


def _check_frozen_values(module, reference: dict, names: list[str], when: str) -> None:
    for name in names:
        ref = reference.get(name)
        if isinstance(ref, (bool, int, float, str)):
            got = getattr(module, name, None)
            if type(got) is not type(ref) or got != ref:
                raise Verdict(INTEGRITY, f"frozen {name} is {got!r} {when}, the frozen block sets {ref!r}")


def _as_loss(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import torch

            if isinstance(value, torch.Tensor) and value.numel() == 1:
                return float(value.item())
        except ImportError:
            pass
        return None
    return float(value)


def _check_return(value, rec: Recorder) -> float:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        kind = f"a {len(value)}-tuple" if isinstance(value, (tuple, list)) else f"{type(value).__name__}"
        raise Verdict(INVALID, f"train() returned {kind}, expected (best_vloss, elapsed_min)")
    claimed = _as_loss(value[0])
    if claimed is None:
        raise Verdict(INVALID, f"train() returned best_vloss of type {type(value[0]).__name__}, expected a number")
    if not math.isfinite(claimed):
        raise Verdict(INVALID, f"train() returned best_vloss = {claimed}")
    if _as_loss(value[1]) is None:
        raise Verdict(INVALID, f"train() returned elapsed_min of type {type(value[1]).__name__}")
    finite = [v for v in rec.losses if math.isfinite(v)]
    if not rec.losses:
        raise Verdict(INVALID, "train() never called the frozen evaluation function, so it has no validation loss")
    if not finite:
        raise Verdict(INVALID, f"every validation loss was non-finite ({rec.losses[-1]})")
    best = min(finite)
    if abs(claimed - best) > RETURN_TOLERANCE:
        raise Verdict(INTEGRITY, f"train() returned best_vloss {claimed:.4f} but the lowest validation loss "
                                 f"the frozen evaluation computed was {best:.4f}")
    return claimed


def causality_probe(model, ref: dict, val) -> str | None:
    """Changing tokens after position t must not change the logits at positions <= t."""
    import numpy as np
    import torch

    T, V, device = ref["BLOCK_SIZE"], ref["VOCAB_SIZE"], ref["DEVICE"]
    x = torch.from_numpy(np.asarray(val[:T * 2]).astype(np.int64).reshape(2, T)).to(device)
    gen = torch.Generator().manual_seed(0)
    model.eval()
    with torch.no_grad():
        base = model(x)
        if tuple(base.shape) != (2, T, V):
            return f"model(x) returned shape {tuple(base.shape)}, expected {(2, T, V)}"
        for t in sorted({0, T // 4, T // 2, T - 2}):
            y = x.clone()
            y[:, t + 1:] = torch.randint(0, V, (2, T - t - 1), generator=gen).to(device)
            delta = (model(y)[:, : t + 1] - base[:, : t + 1]).abs().max().item()
            if not delta <= 1e-4 * max(1.0, base.abs().max().item()):
                return f"logits at positions <= {t} changed by {delta:.3g} when only later tokens changed"
    return None


def test_loss(model, ref: dict, test_path: str) -> float:
    """Mean cross-entropy on fixed windows of the held-out split, which the training script never reads."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    T, B, n, device = ref["BLOCK_SIZE"], ref["BATCH_SIZE"], ref["EVAL_ITERS"], ref["DEVICE"]
    data = np.memmap(test_path, dtype=np.uint16, mode="r")
    offsets = np.random.default_rng(0).integers(0, len(data) - T - 1, (n, B))
    losses = []
    model.eval()
    with torch.no_grad():
        for row in offsets:
            x = torch.from_numpy(np.stack([data[i : i + T] for i in row]).astype(np.int64)).to(device)
            y = torch.from_numpy(np.stack([data[i + 1 : i + 1 + T] for i in row]).astype(np.int64)).to(device)
            logits = model(x)
            losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1)).item())
    return sum(losses) / len(losses)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def _peak_mem_mb(device: str) -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = rss / 1024 / 1024 if sys.platform == "darwin" else rss / 1024
    try:
        import torch

        if device == "cuda":
            peak = max(peak, torch.cuda.max_memory_allocated() / 2**20)
        elif device == "mps":
            peak = max(peak, torch.mps.driver_allocated_memory() / 2**20)
    except Exception:  # memory figures are informative; never fail an evaluation over them
        pass
    return round(peak, 1)


def evaluate(job: dict, out: dict) -> None:
    """Fill `out` with the verdict; raises Verdict for anything but ok."""
    ref: dict = {"__name__": "__evolve_reference__"}
    exec(compile(job["frozen_source"], "<frozen block>", "exec"), ref)
    out["device"] = ref.get("DEVICE")
    rec = Recorder(budget=int(ref[job["budget_name"]]), max_evals=int(ref[job["max_evals_name"]]))

    def tampered() -> str | None:
        return tamper.binding_problem(module, ref, at_import) or surface.problem()

    def on_eval(original, model, *args, **kwargs):
        if len(rec.losses) >= rec.max_evals:
            rec.stop(f"called {job['eval_function']} more than {job['max_evals_name']}={rec.max_evals} times")
        problem = tampered()  # before and after: the loss must come from the frozen data and library code
        if problem:
            rec.stop(problem)
        value = original(model, *args, **kwargs)
        problem = tampered()
        if problem:
            rec.stop(problem)
        loss = _as_loss(value)
        rec.losses.append(math.nan if loss is None else loss)
        rec.model = model
        return value

    def on_batch(original, *args, **kwargs):
        if rec.batches >= rec.budget:
            rec.stop(f"drew more than {job['budget_name']}={rec.budget} training batches")
        rec.batches += 1
        return original(*args, **kwargs)

    surface = tamper.LibrarySurface()
    try:
        module = __import__(job["entry_module"])
    except BaseException as e:  # the candidate's import is untrusted code: any failure is its crash
        raise Verdict(CRASHED, f"importing {job['entry_module']} failed: {type(e).__name__}: {e}") from None
    names = job["frozen_names"]
    _check_frozen_values(module, ref, names, "after import")
    at_import = tamper.frozen_bindings(module)
    problem = tampered()
    if problem:
        raise Verdict(INTEGRITY, problem.replace("while train() ran", "when it was imported"))
    hooked = [_hook(module, job["eval_function"], on_eval), _hook(module, job["batch_function"], on_batch)]
    codes = [fn.__code__ for fn in hooked]
    train = getattr(module, job["entry_function"], None)
    if not callable(train):
        raise Verdict(CRASHED, f"{job['entry_module']} has no function {job['entry_function']}()")

    out["startup_s"] = time.time() - job["spawned_at"]
    t0 = time.perf_counter()
    try:
        value = train()
        _sync(out["device"])
    except _Stop:
        raise Verdict(INTEGRITY, rec.violation) from None
    except BaseException as e:  # SystemExit and KeyboardInterrupt from a candidate are crashes too
        if rec.violation:
            raise Verdict(INTEGRITY, rec.violation) from None
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        raise Verdict(CRASHED, f"train() raised {detail}") from None
    finally:
        out["elapsed_s"] = time.perf_counter() - t0
        out["steps"] = rec.batches
        out["vloss_history"] = [v if math.isfinite(v) else None for v in rec.losses]
        finite = [v for v in rec.losses if math.isfinite(v)]
        out["best_vloss"] = min(finite) if finite else None
    if rec.violation:
        raise Verdict(INTEGRITY, rec.violation)
    if [fn.__code__ for fn in hooked] != codes:
        raise Verdict(INTEGRITY, "the frozen functions were replaced while train() ran")
    _check_frozen_values(module, ref, names, "after train()")
    problem = tampered()
    if problem:
        raise Verdict(INTEGRITY, problem)
    if isinstance(value, (tuple, list)) and value:
        out["returned_vloss"] = _as_loss(value[0])
    _check_return(value, rec)
    if all(k in ref for k in ("BLOCK_SIZE", "VOCAB_SIZE", "DEVICE", "val_data")):
        leak = causality_probe(rec.model, ref, ref["val_data"])
        if leak:
            raise Verdict(CAUSAL, leak)
    if job.get("test_path") and all(k in ref for k in ("BLOCK_SIZE", "BATCH_SIZE", "EVAL_ITERS", "DEVICE")):
        out["test_loss"] = test_loss(rec.model, ref, job["test_path"])


def _die_with_parent() -> None:
    """If the controller dies (kill -9), end this evaluation and everything it started.

    The lifeline pipe's write end lives only in the controller, so end-of-file means it is gone; this
    works inside a PID namespace too, where getppid() says nothing. Without one, fall back to getppid().
    """
    fd = os.environ.get("EVOLVE_LIFELINE_FD")
    parent = os.getppid()

    def end() -> None:
        try:
            os.killpg(0, 9)
        finally:
            os._exit(137)  # process 1 of a PID namespace ignores its own group's SIGKILL; its exit ends them all

    def watch_pipe() -> None:
        try:
            while os.read(int(fd), 1):
                pass
        except (OSError, ValueError):
            pass
        end()

    def watch_parent() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                end()

    target = watch_pipe if fd else watch_parent
    threading.Thread(target=target, name="evolve-parent-watch", daemon=True).start()


def _confine(job: dict, out: dict) -> None:
    """Inside fresh namespaces: read-only file systems except the run folder and the result folder."""
    if not job.get("namespaces"):
        return
    from scoring import confine

    try:
        failures = confine.lock_down([job["run_dir"], os.path.dirname(job["result_path"])])
    except OSError as e:
        failures = [str(e)]
    out["fs_readonly"] = not failures
    if failures:
        out["confine_failures"] = failures[:5]


def main(job_path: str) -> None:
    with open(job_path) as f:
        job = json.load(f)
    os.unlink(job_path)  # the nonce and the held-out path leave the disk before candidate code runs
    _die_with_parent()
    out: dict = {"nonce": job["nonce"]}
    _confine(job, out)
    _set_limits(job)
    os.chdir(job["run_dir"])
    sys.path.insert(0, job["run_dir"])
    try:
        evaluate(job, out)
        out.update(status=OK, reason="")
    except Verdict as v:
        out.update(status=v.status, reason=v.reason)
    except BaseException as e:  # a failure of the probe or test loss on the candidate's model
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        out.update(status=CRASHED, reason=f"after train(): {detail}")
    out["peak_mem_mb"] = _peak_mem_mb(out.get("device") or "cpu")
    tmp = job["result_path"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, job["result_path"])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # threads or atexit hooks the candidate left behind must not keep this process alive


if __name__ == "__main__":
    main(sys.argv[1])
