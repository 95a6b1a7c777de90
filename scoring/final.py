"""The referee's final evaluation: the plan's two sides (scoring/plan.py), each answered by a fresh process
started from the snapshot of the trained model (scoring/evaluator.py), one after the other.

The first process is sent `go` only once the candidate's training process has ended (the controller says
so, scoring/api.py); the second only once the first has closed its end of the channel, which it does only
by ending (its PID namespace ends with it). Their answers are read batch by batch into one Reader, in memory
that does not grow with the rows times the vocabulary.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass

import numpy as np

from scoring import plan as planning
from scoring import wire


class EvaluatorFailed(Exception):
    """A fresh process could not load the snapshot, or the model failed on a batch (its own words)."""


class NoSnapshot(Exception):
    """There was no snapshot to load: the runner, which saves it before it reports train()'s return, did not."""


class EvaluatorGone(Exception):
    """A fresh process ended without answering (killed at its timeout, or crashed)."""


@dataclass(frozen=True)
class Outcome:
    reading: planning.Reading
    forward_flops: float | None  # torch's count for the first batch's forward pass, as the first process counted


def _answer(sock: socket.socket, x: np.ndarray, V: int) -> tuple[np.ndarray, dict]:
    wire.send(sock, "forward", (x,))
    try:
        header, arrays = wire.recv(sock, {"logits": (("float32", (*x.shape, V)),), "failed": ()})
    except wire.Closed:
        raise EvaluatorGone("the final evaluation's process ended before it answered") from None
    if header["kind"] == "failed":
        raise (NoSnapshot if header.get("missing") else EvaluatorFailed)(str(header.get("reason", ""))[:2000])
    return arrays[0], header


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return float(value) if ok else None


def run(p: planning.Plan, V: int, secret: int, socks: list[socket.socket]) -> Outcome:
    import torch

    reader = planning.Reader(p, V, secret)
    flops = None
    for side, sock in enumerate(socks):
        try:
            wire.send(sock, "go")
        except OSError:
            raise EvaluatorGone("the final evaluation's process ended before it was used") from None
        for first, xb in p.batches(side):
            logits, header = _answer(sock, xb, V)
            if side == 0 and first == 0:
                flops = _number(header.get("forward_flops"))
            reader.add(first, torch.log_softmax(torch.from_numpy(logits).double(), dim=-1).numpy())
            del logits
        wire.send(sock, "end")
        _wait_closed(sock)
    return Outcome(reader.reading(), flops)


def _wait_closed(sock: socket.socket) -> None:
    """Until the process on the other end has ended (end of stream); what it sends meanwhile is dropped."""
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass
