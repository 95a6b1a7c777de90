"""Logits over the channel, without the vocabulary on the wire: the exchange every batch of logits goes
through, monitoring and final, between the process that runs the model (it answers) and the trusted referee
(it asks and checks). Both sides live here; only the referee's copy is trusted.

For every message of R rows (R chosen so that one message's logits stay near CHUNK_BYTES; one row at
GPT-2's shapes):

1. `forward` x (R, T) → the answering process runs the model and keeps the logits. It *commits* before it
   is told anything else: `committed` carries each position's log-sum-exp as two float32 numbers, the
   row's largest logit and the log of the sum of exp(logit - largest) (in [0, ln V]: its precision does not
   depend on how large the logits are), and the SHA-256 of each position's whole row of logits as float32
   bytes (R, T, 32). No target has been sent.
2. `gather` ids (R, T, K) → `gathered`, the logits at those vocabulary ids (the targets, and the columns the
   causality probes compare); or `gather` with `all` → the whole logits (R, T, V), for a frozen evaluation
   that uses them some other way than the cross-entropy.
3. `audit` cells (A, 2), drawn by the referee from its secret only now → `rows`, the whole rows of logits at
   those positions. Each must hash to the digest committed for it, its log-sum-exp (recomputed here in
   float64) must be the one committed (its largest logit exactly), and its entries at the gathered ids the
   ones sent. After the commitment the process only shows what it holds: a failure or an end in steps 2
   and 3 is a refusal to show it, judged as a lie (so would a timeout's kill landing in that window be).

The guarantee: every number the referee uses at a position (the log-sum-exp, a target's logit, a probe
column) is bound by the digest the process sent before it knew the targets or the audited positions. A
process that sends, at a share f of positions, numbers other than its committed row's is caught at an
audited one: it escapes with probability at most (1 - f) ** A over A audited positions, which are
AUDITS_PER_ROW per row, uniformly drawn. At every position, whether audited or not, no gathered logit may
exceed the committed largest logit and the log-sum above it must lie in [0, ln V], so no position's loss is
below zero: an unaudited lie gains at most that position's honest loss. Below LSE_TOLERANCE (float32
rounding of a number in [0, ln V]) a shaded log-sum-exp is not caught: it gains at most that much.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from scoring import wire

DIGEST = 32  # bytes of SHA-256
AUDITS_PER_ROW = 16  # whole rows of logits asked back per row of T positions (3 MB a row at GPT-2's shapes)
CHUNK_BYTES = 64 << 20  # float32 logits per message, at most (but never less than one row)
LSE_TOLERANCE = 1e-4  # nats: float32 log-sum above the largest logit, on any device, against float64 here
ROW_LIMIT = wire.MAX_ARRAY_BYTES  # one row of logits (T x V float32) must fit one message
WHOLE_LIMIT = 1 << 30  # whole logits of one batch, for a frozen evaluation that needs them (float32 bytes)
AUDIT_SALT = 20261205


class Failed(Exception):
    """The answering process reported a failure instead of an answer (its header says why)."""

    def __init__(self, header: dict):
        super().__init__(str(header.get("reason", ""))[:2000])
        self.header = header


class Lied(Exception):
    """The answering process sent numbers that are not those of the logits it committed to."""


class TooLarge(Exception):
    """The task's shapes are beyond what the referee takes; the reason names the figure and the limit."""


def row_bytes(T: int, V: int) -> int:
    return 4 * T * V


def rows_per_message(T: int, V: int) -> int:
    return max(1, CHUNK_BYTES // max(1, row_bytes(T, V)))


def check_shapes(T: int, V: int) -> None:
    if row_bytes(T, V) > ROW_LIMIT:
        raise TooLarge(f"one row of logits (block size {T} x vocabulary {V} x 4 bytes = {row_bytes(T, V):,} "
                       f"bytes) is above the referee's limit of {ROW_LIMIT:,} bytes a message: lower the block "
                       "size or the vocabulary")


# ---- the answering side (the candidate's training process, and the final evaluation's processes) ----

_pool: ThreadPoolExecutor | None = None


def _digests(host: np.ndarray) -> np.ndarray:
    """SHA-256 of each position's row, (R, T, 32) uint8; on threads (hashlib releases the GIL) when large."""
    global _pool
    rows = host.reshape(-1, host.shape[-1])
    one = lambda r: hashlib.sha256(memoryview(r)).digest()  # noqa: E731
    if host.nbytes >= (16 << 20):
        _pool = _pool or ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1)))
        digests = list(_pool.map(one, rows))
    else:
        digests = [one(r) for r in rows]
    return np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(*host.shape[:-1], DIGEST)


def answer(sock, header: dict, x: np.ndarray, logits, **fields) -> None:
    """Answer one `forward` (its header and inputs already read) with `logits`, the model's output for x:
    commit, then answer the gather and the audit."""
    import torch

    want = (*x.shape, int(header["vocab"]))
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != want:
        got = f"of shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        wire.send(sock, "failed", status="invalid_result", reason=f"model(x) returned logits {got}, expected {want}")
        return
    z = logits.detach().float()
    top = z.amax(dim=-1, keepdim=True)
    above = (z - top).exp_().sum(dim=-1).log_().cpu().numpy()  # one temporary, exp in place
    host = np.ascontiguousarray(z.cpu().numpy())
    top = top[..., 0].cpu().numpy()
    del z
    wire.send(sock, "committed", (top, above, _digests(host)), **fields)
    asked, arrays = wire.recv(sock)
    if asked["kind"] != "gather":
        return
    if asked.get("all"):
        wire.send(sock, "gathered", (host,))
    else:
        wire.send(sock, "gathered", (np.take_along_axis(host, arrays[0].astype(np.int64), axis=2),))
    asked, arrays = wire.recv(sock)
    if asked["kind"] != "audit":
        return
    cells = arrays[0].astype(np.int64)
    wire.send(sock, "rows", (host[cells[:, 0], cells[:, 1]],))


# ---- the referee's side ----

@dataclass(frozen=True)
class Answer:
    lse: np.ndarray  # (rows, T) float64
    values: np.ndarray  # (rows, T, K) float64: the logits at the ids asked, or the whole logits
    header: dict  # the first message's `committed` header (e.g. the final evaluation's forward FLOPs)
    first_rows: int  # rows in the first message (what that header's figures are for)


def _recv(sock, kind: str, spec: tuple[str, tuple[int, ...]]) -> np.ndarray:
    header, arrays = wire.recv(sock, {kind: (spec,), "failed": ()})
    if header["kind"] == "failed":
        raise Failed(header)
    return arrays[0]


def _check(cells: np.ndarray, rows: np.ndarray, top: np.ndarray, above: np.ndarray, digests: np.ndarray,
           ids: np.ndarray | None, values: np.ndarray) -> None:
    for (r, t), row in zip(cells.tolist(), rows, strict=True):
        where = f"row {r}, position {t}"
        if hashlib.sha256(memoryview(np.ascontiguousarray(row))).digest() != digests[r, t].tobytes():
            raise Lied(f"the logits sent back for {where} are not the ones committed to (their SHA-256 differs)")
        most = row.max()
        exact = float(np.log(np.exp(row.astype(np.float64) - float(most)).sum()))
        if not (_same(most, top[r, t]) and (abs(exact - float(above[r, t])) <= LSE_TOLERANCE
                                            or np.isnan(exact) and np.isnan(above[r, t]))):
            raise Lied(f"the log-sum-exp committed for {where} is {float(top[r, t]) + float(above[r, t]):.6g}, "
                       f"its logits' own is {float(most) + exact:.6g}")
        want = row if ids is None else row[ids[r, t]]
        if not np.array_equal(values[r, t].view(np.uint32), np.ascontiguousarray(want).view(np.uint32)):
            raise Lied(f"the logits gathered at {where} are not the committed row's")


def _same(a, b) -> bool:
    return bool(a == b or np.isnan(a) and np.isnan(b))


def _bounded(top: np.ndarray, above: np.ndarray, values: np.ndarray, V: int) -> None:
    """No logit sent may exceed the largest one committed, and the log-sum above it lies in [0, ln V]: no
    probability above one, no position's loss below zero."""
    with np.errstate(invalid="ignore"):
        bad = (values.max(axis=-1) > top) | (above < -LSE_TOLERANCE) | (above > np.log(V) + LSE_TOLERANCE)
    if bad.any():
        r, t = (int(i) for i in np.argwhere(bad)[0])
        raise Lied(f"the figures sent for row {r}, position {t} are above the log-sum-exp committed for it "
                   f"(a probability above one)")


def _one(sock, x: np.ndarray, V: int, ids: np.ndarray | None, rng: np.random.Generator) -> tuple:
    r, T = x.shape
    wire.send(sock, "forward", (np.ascontiguousarray(x, dtype=np.int64),), vocab=V)
    header, arrays = wire.recv(sock, {"committed": (("float32", (r, T)), ("float32", (r, T)),
                                                    ("uint8", (r, T, DIGEST))), "failed": ()})
    if header["kind"] == "failed":
        raise Failed(header)
    top, above, digests = arrays
    try:  # committed: from here on it only shows what it holds, so a failure is a refusal to show it
        if ids is None:
            wire.send(sock, "gather", all=True)
            values = _recv(sock, "gathered", ("float32", (r, T, V)))
        else:
            wire.send(sock, "gather", (ids,))
            values = _recv(sock, "gathered", ("float32", tuple(ids.shape)))
        flat = rng.choice(r * T, min(r * T, AUDITS_PER_ROW * r), replace=False)
        cells = np.stack([flat // T, flat % T], axis=1).astype(np.int64)
        wire.send(sock, "audit", (cells,))
        rows = _recv(sock, "rows", ("float32", (len(cells), V)))
    except Failed as f:
        raise Lied(f"having committed to its logits, the process would not show them: {str(f)[:300]}") from None
    except (wire.Closed, OSError):
        raise Lied("having committed to its logits, the process ended before it showed them") from None
    _bounded(top, above, values, V)
    _check(cells, rows, top, above, digests, ids, values)
    return top.astype(np.float64) + above.astype(np.float64), values.astype(np.float64), header


def fetch(sock, x: np.ndarray, V: int, ids: np.ndarray | None, rng: np.random.Generator) -> Answer:
    """The model's log-sum-exp at every position of x (B, T) and its logits at `ids` (B, T, K) (or all of
    them, ids None), asked R rows at a time and checked; raises Failed, Lied, TooLarge, wire errors."""
    B, T = x.shape
    check_shapes(T, V)
    if ids is None and row_bytes(T, V) * B > WHOLE_LIMIT:
        raise TooLarge(f"a whole batch of logits ({B} x {T} x {V} x 4 bytes = {row_bytes(T, V) * B:,} bytes) is "
                       f"above the referee's limit of {WHOLE_LIMIT:,} bytes")
    R = rows_per_message(T, V)
    parts, first = [], None
    for lo in range(0, B, R):
        part = _one(sock, x[lo : lo + R], V, None if ids is None else ids[lo : lo + R], rng)
        first = first or part[2]
        parts.append(part)
    return Answer(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), first, min(R, B))


def audit_rng(secret: int) -> np.random.Generator:
    return np.random.default_rng([AUDIT_SALT, secret])
