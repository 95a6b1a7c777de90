"""A fresh process for the final evaluation: it loads the snapshot of the trained model and answers the
referee's final batches, then ends. Nothing of the candidate's training process is alive by then.

`python -I -u -m scoring.evaluator JOB` is started by the controller (scoring/api.py) at the start of the
evaluation, in namespaces of its own: it reads its job, confines itself (scoring/confine.py: nothing it can
write but a scratch tmpfs in memory, private to it and gone when it ends, for torch's compiler caches),
imports torch (so it is warm when needed), and waits. Only once the candidate's
process has ended does the referee send `go`: then it loads the snapshot (candidate code runs from here
on: the model's classes are imported by unpickling), answers `forward` requests (scoring/logits.py: it
commits to the logits, then answers the gather and the audit), and ends at
`end`. Two such processes answer the two sides of the plan (scoring/plan.py) one after the other; no
probe row is answered by the process that answers its partner, and nothing one of them computes can reach
the other: no shared writable file system, no network, separate PID and IPC namespaces, and the second is sent
`go` only after the first has ended.

The forward FLOPs of the first message (torch's counter, scoring/flops.py) are sent with its commitment: the
referee multiplies them into the training's compute (x3 for a training step, times the batches it served).
"""

from __future__ import annotations

import os
import socket
import sys
import traceback

from scoring import final, logits, syscalls, wire
from scoring.jobs import EvaluatorJob
from scoring.runner import SNAPSHOT, set_limits, start


def _error(e: BaseException) -> str:
    return traceback.format_exception_only(type(e), e)[-1].strip()[:400]


def _load(job: EvaluatorJob):
    """The snapshot, unpickled whole (its classes are imported from the run folder), in eval mode."""
    import torch

    os.chdir(job.run_dir)
    sys.path.insert(0, job.run_dir)
    model = torch.load(os.path.join(job.run_dir, SNAPSHOT), map_location=None, weights_only=False)
    model.eval()
    return model


def _device(model) -> str:
    import torch

    for t in (*model.parameters(), *model.buffers()):
        return str(t.device)
    return str(torch.device("cpu"))


def _forward(model, device: str, x, count: bool) -> tuple[object, float | None]:
    import torch

    from scoring import flops

    counter = flops.counter() if count else None
    with torch.no_grad():
        xt = torch.from_numpy(x.copy()).to(device)
        if counter is not None:
            with counter:
                out = model(xt)
        else:
            out = model(xt)
    return out, (float(counter.get_total_flops()) if counter else None)


def _warm() -> None:
    """Import torch and its FLOP counter now, while the candidate trains (and while a temporary folder is
    still there: torch's compiler caches look for one when they are imported)."""
    import torch

    from scoring import flops

    with flops.counter():
        torch.nn.Linear(2, 2)(torch.zeros(1, 2))


def serve(sock: socket.socket, job: EvaluatorJob) -> None:
    """Wait for `go`, load the model, answer every `forward` until `end`."""
    header, _ = wire.recv(sock)
    if header["kind"] != "go":
        return
    if not os.path.exists(os.path.join(job.run_dir, SNAPSHOT)):
        wire.send(sock, "failed", missing=True, reason="there is no snapshot of the trained model")
        return
    try:
        model = _load(job)
    except BaseException as e:  # the candidate's classes run here: any failure is the candidate's
        traceback.print_exc()
        wire.send(sock, "failed", reason=f"{final.OPENINGS[1]}: {_error(e)}")
        return
    device, first = _device(model), True
    while True:
        header, arrays = wire.recv(sock)
        if header["kind"] != "forward":
            return
        try:
            out, counted = _forward(model, device, arrays[0], count=first and job.count_flops)
        except BaseException as e:
            traceback.print_exc()  # the whole message, for the run's log: the verdict keeps only its kind
            wire.send(sock, "failed", reason=f"{final.OPENINGS[0]}: {_error(e)}")
            return
        fields = {"forward_flops": counted} if first and counted is not None else {}
        logits.answer(sock, header, arrays[0], out, **fields)  # commit, then the gather and the audit
        first = False


def main(job_path: str) -> None:
    job, sock = start(job_path, EvaluatorJob)
    _warm()
    if job.namespaces:
        from scoring import confine

        try:
            confine.lock_down([], job.readable, scratch=True)
        except OSError:
            pass  # what it could not hide the runner reports for the evaluation
    syscalls.deny()  # the runner reports whether this host allows it
    set_limits(job)

    try:
        serve(sock, job)
    except (wire.Closed, wire.ProtocolError, OSError):
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # whatever the model left running ends with this process (and its PID namespace)


if __name__ == "__main__":
    main(sys.argv[1])
