"""The channel between the trusted referee and the candidate's process: framed messages over a socket.

A frame is a 4-byte big-endian header length, a JSON header, then the raw bytes of the arrays the header
lists (`"arrays": [[dtype, shape], ...]`). Both sides use this module, but only the referee's copy is
trusted: everything it reads from the candidate is checked here (sizes, dtypes) before it is believed.
"""

from __future__ import annotations

import json
import socket
import struct

import numpy as np

MAX_HEADER = 1 << 20  # a header is a few hundred bytes; more is not a message of ours
MAX_ARRAY_BYTES = 1 << 31  # logits of one evaluation batch; a task with a huge vocabulary stays below it
DTYPES = ("int64", "int32", "uint16", "float16", "float32", "float64", "bool")


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


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


def recv(sock: socket.socket) -> tuple[dict, list[np.ndarray]]:
    """One message: (header, arrays). Raises Closed at end of stream, ProtocolError on anything malformed."""
    (n,) = struct.unpack(">I", _read(sock, 4))
    if n > MAX_HEADER:
        raise ProtocolError(f"a message header of {n} bytes")
    try:
        header = json.loads(_read(sock, n))
    except ValueError:
        raise ProtocolError("a message header that is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise ProtocolError("a message without a kind")
    arrays = []
    for spec in header.pop("arrays", []) or []:
        try:
            dtype, shape = spec
            if dtype not in DTYPES or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError
            dt = np.dtype(dtype)
            nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        except (TypeError, ValueError):
            raise ProtocolError(f"a malformed array description {spec!r}") from None
        if nbytes > MAX_ARRAY_BYTES:
            raise ProtocolError(f"an array of {nbytes} bytes")
        arrays.append(np.frombuffer(_read(sock, nbytes), dtype=dt).reshape(shape))
    return header, arrays
