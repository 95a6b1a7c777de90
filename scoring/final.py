"""The referee's final evaluation: the plan's two sides (scoring/plan.py), each answered by a fresh process
started from the snapshot of the trained model (scoring/evaluator.py), one after the other.

The first process is sent `go` only once the candidate's training process has ended (the controller says
so, scoring/api.py); the second only once the first has closed its end of the channel, which it does only
by ending (its PID namespace ends with it). Their answers (scoring/logits.py: two numbers a position and the
columns the probes compare, bound by a commitment and audited) are read batch by batch into one Reader, in
memory that does not grow with the rows times the vocabulary.
"""

from __future__ import annotations

import builtins
import math
import socket
from dataclasses import dataclass

import numpy as np

from scoring import logits, wire
from scoring import plan as planning


class EvaluatorFailed(Exception):
    """A fresh process could not load the snapshot, or the model failed on a batch (`kept` of its words)."""


# What a fresh process says of its failure is the candidate's to write, after it was sent held-out windows:
# kept whole, a reason could carry their text into the lineage and the next prompt (a red-team finding).
OPENINGS = ("the model failed on a final evaluation batch",
            "the snapshot of the trained model could not be loaded in a fresh process")


def kept(reason: str) -> str:
    """A fresh process's reason as the verdict may hold it: the evaluator's own opening (else a plain one) and
    the exception's name if it is a built-in one. The whole message is in the process's log
    (final-K.stderr.log in the run folder)."""
    opening, _, rest = reason.partition(": ")
    name = rest.split(":", 1)[0].strip()
    builtin = getattr(builtins, name, None)
    kind = name if isinstance(builtin, type) and issubclass(builtin, BaseException) else "an exception"
    opening = opening if opening in OPENINGS else "a final evaluation process failed"
    return (f"{opening}: {kind} (its message is left out here, kept in the run's final-*.stderr.log: the process "
            "may have seen held-out windows)")


class NoSnapshot(Exception):
    """There was no snapshot to load: the runner, which saves it before it reports train()'s return, did not."""


class EvaluatorGone(Exception):
    """A fresh process ended without answering (killed at its timeout, or crashed)."""


@dataclass(frozen=True)
class Outcome:
    reading: planning.Reading
    forward_flops: float | None  # torch's count for the first message's forward pass, as the first process counted
    counted_tokens: int  # the tokens that count is for


def _number(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    return float(value) if ok else None


def _ask(sock: socket.socket, x: np.ndarray, V: int, ids: np.ndarray, rng: np.random.Generator) -> logits.Answer:
    try:
        return logits.fetch(sock, x, V, ids, rng)
    except wire.Closed:
        raise EvaluatorGone("the final evaluation's process ended before it answered") from None
    except logits.Failed as f:
        raise (NoSnapshot(str(f)) if f.header.get("missing") else EvaluatorFailed(kept(str(f)))) from None


def run(p: planning.Plan, V: int, secret: int, socks: list[socket.socket]) -> Outcome:
    """The reading of the plan's answers; raises EvaluatorFailed, NoSnapshot, EvaluatorGone, logits.Lied,
    logits.TooLarge."""
    reader = planning.Reader(p, V, secret)
    rng = logits.audit_rng(secret)
    flops, counted = None, 0
    for side, sock in enumerate(socks):
        try:
            wire.send(sock, "go")
        except OSError:
            raise EvaluatorGone("the final evaluation's process ended before it was used") from None
        for first, xb in p.batches(side):
            got = _ask(sock, xb, V, reader.ids(first, len(xb)), rng)
            if side == 0 and first == 0:
                flops, counted = _number(got.header.get("forward_flops")), got.first_rows * xb.shape[1]
            reader.add(first, got.lse, got.values)
        wire.send(sock, "end")
        _wait_closed(sock)
    return Outcome(reader.reading(), flops, counted)


def _wait_closed(sock: socket.socket) -> None:
    """Until the process on the other end has ended (end of stream); what it sends meanwhile is dropped."""
    try:
        while sock.recv(1 << 16):
            pass
    except OSError:
        pass
