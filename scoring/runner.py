"""The candidate's side of an evaluation: the first code in the sandboxed child, before any candidate code.

`python -I -u -m scoring.runner JOB` reads the job file (and deletes it), confines itself (namespaces where
the host has them: read-only file systems, the dataset hidden), tells the referee what confinement it got,
sets resource limits, imports the candidate's entry module and routes its frozen batch and evaluation
functions to the trusted referee (scoring/referee.py) over the channel, calls `train()`, saves the model
train() left whole (a snapshot in the run folder), reports the return value, and ends. The final evaluation
runs in fresh processes started from that snapshot (scoring/evaluator.py), where nothing of this one lives.

Nothing here decides the verdict: this process runs candidate code, which can reach anything in it. The
training batches, the losses, the fitness and the probe live in the referee. What remains here is
tripwires (frozen values and bindings, library functions, parameters that change while the model is
evaluated), which name the cheap, common ways of breaking the protocol early and plainly.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import threading
import time
import traceback
import types
from typing import TypeVar

from scoring import logits, syscalls, tamper, wire
from scoring.jobs import Confinement, EvaluatorJob, RunnerJob
from scoring.result import CRASHED, Status
from scoring.result import INTEGRITY_VIOLATION as INTEGRITY

J = TypeVar("J", RunnerJob, EvaluatorJob)
SNAPSHOT = ".evolve-snapshot.pt"  # in the run folder: the model train() left, for the final evaluation


class _Stop(BaseException):
    """Raised inside train() when it breaks the protocol; a BaseException so `except Exception` misses it."""


class Failure(Exception):
    def __init__(self, status: Status, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def set_limits(job: RunnerJob | EvaluatorJob) -> None:
    if job.mem_limit_mb and hasattr(resource, "RLIMIT_AS"):
        limit = job.mem_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if job.file_limit_mb:
        limit = job.file_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _innermost(fn):
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


def _hook(module: types.ModuleType, name: str, hook) -> types.FunctionType:
    """Route every call of `module.name` (and of its aliases) through `hook(*args)`."""
    fn = _innermost(getattr(module, name))
    if not isinstance(fn, types.FunctionType) or fn.__code__.co_freevars:
        raise Failure(INTEGRITY, f"frozen function {name} is not the plain function its frozen block defines")
    slot = f"__evolve_hook_{name}__"
    namespace: dict = {}
    exec(f"def {name}(*args, **kwargs):\n    return {slot}(*args, **kwargs)\n", namespace)
    fn.__globals__[slot] = hook
    fn.__code__ = namespace[name].__code__
    return fn


def _check_frozen_values(module, reference: dict, names: list[str], when: str) -> None:
    for name in names:
        ref = reference.get(name)
        if isinstance(ref, (bool, int, float, str)):
            got = getattr(module, name, None)
            if type(got) is not type(ref) or got != ref:
                raise Failure(INTEGRITY, f"frozen {name} is {got!r} {when}, the frozen block sets {ref!r}")


def _as_number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        import torch

        if isinstance(value, torch.Tensor) and value.numel() == 1:
            return float(value.item())
    except ImportError:
        pass
    return None


def describe_return(value) -> dict:
    """train()'s return value as the referee checks it: its shape and the two numbers, never the object."""
    kind = "tuple" if isinstance(value, tuple) else "list" if isinstance(value, list) else type(value).__name__
    d: dict = {"type": kind, "len": len(value) if isinstance(value, (tuple, list)) else None}
    if isinstance(value, (tuple, list)) and len(value) == 2:
        d["claimed"] = _as_number(value[0])  # NaN and infinities too: the referee names them
        d["claimed_type"] = type(value[0]).__name__
        d["elapsed_ok"] = _as_number(value[1]) is not None
        d["elapsed_type"] = type(value[1]).__name__
    return d


def fingerprint(model) -> bytes:
    """Per parameter and buffer, its sum and a strided sample's sum: a model that learns while it is
    evaluated moves them. A tripwire (this process runs candidate code), so cheap, not collision-proof.
    Compared as bytes, so a model whose weights are NaN (diverged) compares equal to itself."""
    import torch

    tensors = [t.detach().reshape(-1) for t in (*model.parameters(), *model.buffers()) if t.numel()]
    if not tensors:
        return b""
    sums = torch.stack([s for t in tensors for s in (t.float().sum(), t[::97].float().sum())])
    return sums.cpu().numpy().tobytes()


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


class Channel:
    """This side of the conversation with the referee, and what the tripwires need."""

    def __init__(self, sock: socket.socket, device: str):
        self.sock, self.device = sock, device
        self.model = None  # the model the frozen evaluation was last given: the one the referee scores
        self.violation: str | None = None
        self.checks = lambda: None  # tamper tripwires, set once the candidate module is imported
        self.batches = 0

    def stop(self, reason: str):
        self.violation = self.violation or reason
        raise _Stop(reason)

    def batch(self, *args, **kwargs):
        import torch

        wire.send(self.sock, "batch")
        header, arrays = wire.recv(self.sock)
        if header["kind"] != "batch":
            self.stop(header.get("reason", "the referee refused a training batch"))
        self.batches += 1
        return tuple(torch.from_numpy(a.copy()).to(self.device) for a in arrays)

    def forward(self, model, x):
        """The model's logits for one batch the referee sent, with its parameters checked around the call."""
        import torch

        before = fingerprint(model)
        with torch.no_grad():
            out = model(torch.from_numpy(x.copy()).to(self.device))
        if fingerprint(model) != before:
            self.stop("the model's parameters or buffers changed while it was evaluated")
        return out

    def serve(self, model, until: str):
        """Answer the referee's evaluation batches until it sends `until` (or refuses)."""
        while True:
            header, arrays = wire.recv(self.sock)
            if header["kind"] == "forward":  # commit, then the gather and the audit (scoring/logits.py)
                logits.answer(self.sock, header, arrays[0], self.forward(model, arrays[0]))
            elif header["kind"] == until:
                return header
            elif header["kind"] == "pruned":  # the referee's verdict is given: nothing is left to do here
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            else:
                self.stop(header.get("reason", f"the referee sent {header['kind']!r}"))

    def evaluate(self, model, *args, **kwargs):
        problem = self.checks()  # before and after: the protocol's names and library code stay frozen
        if problem:
            self.stop(problem)
        self.model = model
        was = model.training
        model.eval()
        try:
            wire.send(self.sock, "eval")
            loss = self.serve(model, "evaluated")["loss"]
        finally:
            model.train(was)
        problem = self.checks()
        if problem:
            self.stop(problem)
        return loss


def reference_block(job: RunnerJob) -> dict:
    """The frozen block run on its own, before any candidate code: what the tripwires compare with."""
    ref: dict = {"__name__": "__evolve_reference__"}
    exec(compile(job.frozen_source, "<frozen block>", "exec"), ref)
    return ref


def snapshot(model) -> str | None:
    """Save the model train() left, whole, for the final evaluation's fresh processes; why not, or None."""
    import torch

    if model is None:
        return None
    try:
        model.eval()
        torch.save(model, SNAPSHOT + ".part")
        os.replace(SNAPSHOT + ".part", SNAPSHOT)
    except BaseException as e:  # the candidate's objects: whatever they raise, the verdict names it
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        return (f"the model train() left could not be saved for the final evaluation (torch.save of the whole "
                f"model object, which must pickle: no lambdas, open files, locks or generators): {detail[:300]}")
    return None


def evaluate(job: RunnerJob, chan: Channel, ref: dict) -> None:
    """Import the candidate, hook its frozen functions, run train(), save its model, report."""
    module = _import_candidate(job, chan, ref)
    hooked = [_hook(module, job.eval_function, chan.evaluate), _hook(module, job.batch_function, chan.batch)]
    codes = [fn.__code__ for fn in hooked]
    train = getattr(module, job.entry_function, None)
    if not callable(train):
        raise Failure(CRASHED, f"{job.entry_module} has no function {job.entry_function}()")

    wire.send(chan.sock, "begin")
    value = _train(train, chan)
    if chan.violation:
        raise Failure(INTEGRITY, chan.violation)
    if [fn.__code__ for fn in hooked] != codes:
        raise Failure(INTEGRITY, "the frozen functions were replaced while train() ran")
    _check_frozen_values(module, ref, job.frozen_names, "after train()")
    problem = chan.checks()
    if problem:
        raise Failure(INTEGRITY, problem)
    unsaved = snapshot(chan.model)
    wire.send(chan.sock, "returned", value=describe_return(value), peak_mem_mb=_peak_mem_mb(chan.device),
              unsaved=unsaved)
    # This process ends here: the final evaluation runs in fresh ones, from the snapshot (scoring/evaluator.py)


def _import_candidate(job: RunnerJob, chan: Channel, ref: dict) -> types.ModuleType:
    """The candidate's entry module, imported, with its frozen values and bindings as the block made them;
    the tripwires that compare them again set on `chan`."""
    surface = tamper.LibrarySurface()
    try:
        module = __import__(job.entry_module)
    except BaseException as e:  # the candidate's import is untrusted code: any failure is its crash
        raise Failure(CRASHED, f"importing {job.entry_module} failed: {type(e).__name__}: {e}") from None
    _check_frozen_values(module, ref, job.frozen_names, "after import")
    at_import = tamper.frozen_bindings(module)
    chan.checks = lambda: tamper.binding_problem(module, ref, at_import) or surface.problem()
    problem = chan.checks()
    if problem:
        raise Failure(INTEGRITY, problem.replace("while train() ran", "when it was imported"))
    return module


def _train(train, chan: Channel) -> object:
    """train()'s return value; a Failure for whatever it raised, or for the protocol break that stopped it."""
    try:
        value = train()
        _sync(chan.device)
    except _Stop:
        raise Failure(INTEGRITY, chan.violation) from None
    except BaseException as e:  # SystemExit and KeyboardInterrupt from a candidate are crashes too
        if chan.violation:
            raise Failure(INTEGRITY, chan.violation) from None
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        raise Failure(CRASHED, f"train() raised {detail}") from None
    return value


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


def _confine(job: RunnerJob) -> Confinement:
    """Inside fresh namespaces: read-only file systems except the run folder, the dataset hidden; then, on
    Linux, the system-call filter (scoring/syscalls.py)."""
    fs_readonly, failures = None, []
    if job.namespaces:
        from scoring import confine

        try:
            failures = confine.lock_down(job.writable, job.readable)
        except OSError as e:
            failures = [str(e)]
        fs_readonly = not failures
    data_hidden = not any(os.path.exists(p) for p in job.secret_files)
    return Confinement(fs_readonly, data_hidden, tuple(failures[:5]), syscalls.deny() is None)


def start(job_path: str, kind: type[J]) -> tuple[J, socket.socket]:
    """What every sandboxed child of an evaluation does first: read its job (and delete it), take its end of
    the channel to the referee, and end with the controller (the lifeline)."""
    with open(job_path) as f:
        job = kind.from_wire(json.load(f))
    os.unlink(job_path)
    sock = socket.socket(fileno=int(os.environ.pop("EVOLVE_REFEREE_FD")))
    _die_with_parent()
    return job, sock


def main(job_path: str) -> None:
    job, sock = start(job_path, RunnerJob)
    facts = _confine(job)
    os.chdir(job.run_dir)
    ref = reference_block(job)
    device = str(ref.get(job.device_name, "cpu"))
    wire.send(sock, "hello", **facts.to_wire(), device=device)
    set_limits(job)
    sys.path.insert(0, job.run_dir)
    chan = Channel(sock, device)
    try:
        evaluate(job, chan, ref)
    except Failure as f:
        _report_failure(sock, f.status, f.reason, chan.device)
    except wire.Closed:
        pass  # the referee is gone: nothing to report to
    except BaseException as e:  # e.g. the referee's channel broke inside a hook
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        _report_failure(sock, CRASHED, f"after train(): {detail}", chan.device)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # threads or atexit hooks the candidate left behind must not keep this process alive


def _report_failure(sock: socket.socket, status: Status, reason: str, device: str) -> None:
    try:
        wire.send(sock, "failed", status=status, reason=reason, peak_mem_mb=_peak_mem_mb(device))
        wire.recv(sock)  # the referee's "end": the verdict is written before this process goes
    except (OSError, wire.Closed, wire.ProtocolError):
        pass


if __name__ == "__main__":
    main(sys.argv[1])
