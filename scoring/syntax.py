"""`ast.parse` behind one process-wide lock.

CPython 3.11 keeps the AST converter's recursion counter in interpreter-wide state: two threads that
parse at once (an evaluation slot screening a candidate while a proposer thread parses a reply) can fail
with "SystemError: AST constructor recursion depth mismatch". Every parse in this project goes through
here, so the controller's threads never parse concurrently.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with _LOCK:
        return ast.parse(source, filename=filename)
