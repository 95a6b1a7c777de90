"""The channel between the trusted referee and the candidate's processes: framed messages over a socket.

A frame is a 4-byte big-endian header length, a JSON header, then the raw bytes of the arrays the header
lists (`"arrays": [[dtype, shape], ...]`). Both sides use this module, but only the referee's copy is
trusted. The referee reads everything with a schema for the moment (`recv(sock, schema)`): which message
kinds may come now, and for each the exact arrays (dtype and shape, from the task's own numbers). A header
that does not match is refused before any payload is read, so a candidate cannot make the referee
allocate, and a kind that is not expected now is out of turn (`OutOfTurn`).
"""

from __future__ import annotations

import json
import math
import socket
import struct

import numpy as np

MAX_HEADER = 1 << 16  # a header is a few hundred bytes (a reason at most a few thousand); more is not ours
MAX_ARRAY_BYTES = 1 << 31  # logits of one evaluation batch; a task with a huge vocabulary stays below it
DTYPES = ("int64", "int32", "uint16", "uint8", "float16", "float32", "float64", "bool")

# kind -> the arrays it carries, each (dtype, shape); only the kinds listed may come.
Schema = dict[str, tuple[tuple[str, tuple[int, ...]], ...]]


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


class OutOfTurn(ProtocolError):
    """A message of a kind the schema does not expect now."""

    def __init__(self, kind: str):
        super().__init__(f"sent {kind!r} out of turn")
        self.kind = kind


class Mismatch(ProtocolError):
    """A message of an expected kind whose arrays are not the ones the schema names."""

    def __init__(self, kind: str, got: list, want: list):
        super().__init__(f"a {kind!r} message with arrays {str(got)[:200]}, expected {want}")
        self.kind, self.got = kind, got


class Closed(Exception):
    """The peer closed the channel (it exited, was killed, or is done)."""


def send(sock: socket.socket, kind: str, arrays: tuple[np.ndarray, ...] = (), **fields) -> None:
    arrays = tuple(np.ascontiguousarray(a) for a in arrays)
    header = json.dumps({"kind": kind, **fields,
                         "arrays": [[a.dtype.name, list(a.shape)] for a in arrays]}).encode()
    sock.sendall(struct.pack(">I", len(header)) + header)
    for a in arrays:
        sock.sendall(memoryview(a).cast("B"))


def _read(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise Closed("the peer closed the channel")
        got += k
    return buf


def recv(sock: socket.socket, schema: Schema | None = None) -> tuple[dict, list[np.ndarray]]:
    """One message: (header, arrays). Raises Closed at end of stream, ProtocolError on anything malformed
    or, with a schema, on a kind it does not list (OutOfTurn) or arrays other than the ones it names."""
    header = _header(sock)
    specs = header.pop("arrays", []) or []
    if not isinstance(specs, list):
        raise ProtocolError("a malformed array list")
    if schema is not None:
        _check_turn(header["kind"], specs, schema)
    sizes = [_array_size(spec) for spec in specs]  # every description checked before any payload is read
    return header, [np.frombuffer(_read(sock, nbytes), dtype=dt).reshape(shape) for dt, shape, nbytes in sizes]


def _header(sock: socket.socket) -> dict:
    """A message's header: a JSON object with a string `kind`, of at most MAX_HEADER bytes."""
    (n,) = struct.unpack(">I", _read(sock, 4))
    if n > MAX_HEADER:
        raise ProtocolError(f"a message header of {n} bytes")
    try:
        header = json.loads(_read(sock, n))
    except ValueError:
        raise ProtocolError("a message header that is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise ProtocolError("a message without a kind")
    return header


def _check_turn(kind: str, specs: list, schema: Schema) -> None:
    """The kind must be one the schema expects now, carrying exactly the arrays it names."""
    if kind not in schema:
        raise OutOfTurn(kind[:40])
    want = [[dtype, list(shape)] for dtype, shape in schema[kind]]
    if specs != want:
        raise Mismatch(kind, specs, want)


def _array_size(spec: object) -> tuple[np.dtype, list[int], int]:
    """An array description [dtype, shape] as (dtype, shape, bytes), refused when malformed or too large."""
    try:
        dtype, shape = spec
        if dtype not in DTYPES or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError
        dt = np.dtype(dtype)
        nbytes = math.prod(shape) * dt.itemsize  # Python integers: a product cannot wrap around
    except (TypeError, ValueError):
        raise ProtocolError(f"a malformed array description {spec!r}") from None
    if nbytes > MAX_ARRAY_BYTES:
        raise ProtocolError(f"an array of {nbytes} bytes")
    return dt, shape, nbytes
