"""`ast.parse` behind one process-wide lock.

CPython 3.11 keeps the AST converter's recursion counter in interpreter-wide state: two threads that
parse at once (an evaluation slot screening a candidate while a proposer thread parses a reply) can fail
with "SystemError: AST constructor recursion depth mismatch". Every parse in this project goes through
here, so the controller's threads never parse concurrently. A parse elsewhere in the process (a library
that parses for itself) can still collide with ours: that one error is retried, as the parse is pure.
"""

from __future__ import annotations

import ast
import functools
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    for attempt in range(3):
        try:
            with _LOCK:
                return ast.parse(source, filename=filename)
        except SystemError as e:
            if "recursion depth mismatch" not in str(e) or attempt == 2:
                raise
    raise AssertionError("unreachable")


@functools.lru_cache(maxsize=16)
def parse_shared(source: str, filename: str = "<unknown>") -> ast.Module:
    """`parse`, cached: one tree per text for every reader of a candidate (reply parser, guard, code hash).
    The tree is shared, so a caller must never change it; one that needs to changes a copy or uses `parse`.
    Parsing is the largest part of screening a candidate, and each of its files is read several times."""
    return parse(source, filename)
