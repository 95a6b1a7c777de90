"""Screening before the queue: nothing is trained that cannot parse, breaks the frozen protocol or
changes nothing; the code hash it gives lets the campaign refuse what was already seen.

Order: parse the reply into the merged file set (evolve.operators.reply: unparseable / syntax_error /
no_op), then the constraint guard (constraint_violation with the guard's reasons), then the normalized
code hash: equal to the parent's -> no_op (only comments, docstrings or formatting changed). Whether
another candidate already has it is the campaign's to say (evolve/proposals.py, the one place
that sees every recorded candidate, with the database's unique hash as the backstop; both give
`lineage.duplicate_reason`). The hash is over the syntax trees with docstrings removed, so comment and
formatting changes never count as a new program.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from evolve.kinds import Rejection
from evolve.operators.reply import parse_reply
from scoring import guard, syntax
from scoring.result import CONSTRAINT_VIOLATION, REJECTED, Status
from scoring.task import Task


@dataclass(frozen=True)
class Screened:
    """`status` is None when the candidate may be queued; else REJECTED or CONSTRAINT_VIOLATION."""

    status: Status | None
    kind: Rejection | None  # None when accepted; a duplicate is the campaign's to find (see above)
    reason: str
    files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    code_hash: str | None = None
    changed: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    summary: str = ""

    @property
    def accepted(self) -> bool:
        return self.status is None


_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _canonical(tree: ast.AST) -> str:
    """The tree in preorder without positions or docstrings: node type names, list lengths and constants'
    reprs. Node types fix their field counts, so the sequence reads back one way only. Reads the tree and
    never changes it (the tree is syntax.parse_shared's, shared with the guard)."""
    out: list[str] = []
    stack: list = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.AST):
            out.append(type(node).__name__)
            values = []
            for name in node._fields:
                value = getattr(node, name, None)
                if name == "body" and isinstance(node, _DOC_OWNERS) and value and _docstring(value[0]):
                    value = value[1:] or [ast.Pass()]
                values.append(value)
            stack.extend(reversed(values))
        elif isinstance(node, list):
            out.append(f"[{len(node)}")
            stack.extend(reversed(node))
        else:
            out.append(repr(node))
    return "\0".join(out)


_STMT_CACHE: dict[tuple[str, int, int], str] = {}
_STMT_CACHE_MAX = 4_096  # a few MB: the reuse that matters is parent to child, a recent program


def _module_canonical(tree: ast.Module, text: str) -> str:
    """`_canonical(tree)`, with each top-level statement's part cached by its source text and columns: a
    child usually changes a few statements of its parent's file, and only those are walked again."""
    body = tree.body[1:] if tree.body and _docstring(tree.body[0]) else tree.body
    if not body:
        return _canonical(tree)
    lines = text.splitlines(keepends=True)
    parts = ["Module", f"[{len(body)}"]
    for stmt in body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
        key = ("".join(lines[first - 1 : stmt.end_lineno]), stmt.col_offset, stmt.end_col_offset or 0)
        canon = _STMT_CACHE.get(key)
        if canon is None:
            if len(_STMT_CACHE) >= _STMT_CACHE_MAX:
                _STMT_CACHE.clear()
            canon = _STMT_CACHE[key] = _canonical(stmt)
        parts.append(canon)
    parts.append(f"[{len(tree.type_ignores)}")
    return "\0".join(parts)


@functools.lru_cache(maxsize=512)
def _file_digest(name: str, text: str) -> bytes:
    """One file's share of the hash; cached, since most children leave most files as their parent had them."""
    try:
        canon = _module_canonical(syntax.parse_shared(text, name), text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        canon = "text:" + text
    h = hashlib.sha256(f"{name}\0{len(canon)}\0".encode())
    h.update(canon.encode("utf-8", "surrogatepass"))
    return h.digest()


def code_hash(files: Mapping[str, str]) -> str:
    """Hash of the program's meaning as Python sees it: file names and docstring-free syntax trees.

    Files that do not parse are hashed by their text (they never reach the queue anyway).
    """
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(_file_digest(name, files[name]))
    return h.hexdigest()


def screen(task: Task, parent_files: Mapping[str, str], reply_text: str) -> Screened:
    parent = {**task.seed_files, **parent_files}
    reply = parse_reply(reply_text, parent, task.editable)
    base = dict(ignored=reply.ignored, notes=reply.notes, summary=reply.summary)
    if not reply.ok:
        return Screened(REJECTED, reply.rejection, reply.reason, **base)
    files = dict(reply.files)
    problems = guard.check(task, files)
    if problems:
        return Screened(CONSTRAINT_VIOLATION, Rejection.CONSTRAINT_VIOLATION, "; ".join(problems),
                        changed=reply.changed, **base)
    digest = code_hash(files)
    if digest == code_hash(parent):
        return Screened(REJECTED, Rejection.NO_OP, "only comments, docstrings or formatting changed", code_hash=digest,
                        changed=reply.changed, **base)
    return Screened(None, None, "", MappingProxyType(files), digest, reply.changed, **base)
