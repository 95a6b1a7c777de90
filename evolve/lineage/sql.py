"""`evolve sql`: a user's own SELECT, run read-only.

Two fences: the statement is checked here (one statement, a reading kind, no writing keyword outside
literals), and the connection itself cannot write (SQLite opened with mode=ro and query_only,
PostgreSQL with default_transaction_read_only). The check gives a clear message; the connection is the
guarantee.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from evolve.lineage.db import Database
from scoring.errors import InputError

MAX_ROWS = 10_000
_READING = {"select", "with", "values", "explain", "pragma"}
# `replace` is absent: REPLACE as a statement fails the first-word test, and replace() is a string function.
_WRITING = {
    "insert",
    "update",
    "delete",
    "drop",
    "alter",
    "create",
    "attach",
    "detach",
    "vacuum",
    "reindex",
    "truncate",
    "grant",
    "revoke",
    "copy",
    "merge",
    "upsert",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "release",
    "lock",
    "call",
    "do",
    "set",
    "reset",
    "analyze",
    "refresh",
    "cluster",
    "comment",
    "load",
    "import",
    "listen",
    "notify",
    "prepare",
    "execute",
    "into",
}
# Introspection pragmas that only read; any other pragma (and any `pragma x = y`) is refused.
_READ_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "database_list",
    "user_version",
    "schema_version",
}
_LEXEME = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$\$.*?\$\$|[A-Za-z_][A-Za-z0-9_]*|;|=|.""", re.S
)


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool  # more than MAX_ROWS rows matched


def _words(statement: str) -> tuple[list[str], int]:
    """The statement's words and symbols, lowercased, without literals and comments; and how many
    statements its semicolons separate (a trailing semicolon starts none)."""
    words: list[str] = []
    statements = 1
    pending_semicolon = False
    for lex in _LEXEME.findall(statement):
        if lex.isspace() or lex.startswith(("--", "/*", "'", '"', "$$")):
            continue
        if lex == ";":
            pending_semicolon = True
            continue
        if pending_semicolon:
            statements += 1
            pending_semicolon = False
        words.append(lex.lower())
    return words, statements


def _reading_pragma(words: list[str]) -> bool:
    """`pragma <introspection name>` with no assignment anywhere."""
    return len(words) >= 2 and words[1] in _READ_PRAGMAS and "=" not in words


def check_readonly(statement: str) -> str:
    """The statement without a trailing semicolon, or InputError naming why it may write."""
    words, statements = _words(statement)
    if not words:
        raise InputError("empty SQL statement")
    if statements > 1:
        raise InputError("one statement at a time: `evolve sql` refuses multiple statements")
    if words[0] not in _READING:
        raise InputError(f"`evolve sql` is read-only: a {words[0].upper()} statement is refused")
    if words[0] == "pragma" and not _reading_pragma(words):
        raise InputError(
            "`evolve sql` is read-only: only introspection pragmas "
            f"({', '.join(sorted(_READ_PRAGMAS))}) without '=' are allowed"
        )
    bad = next((w for w in words if w in _WRITING), None)
    if bad is not None:
        raise InputError(f"`evolve sql` is read-only: {bad.upper()} is refused")
    return statement.strip().rstrip(";").strip()


def run_readonly(db: Database, statement: str, max_rows: int = MAX_ROWS) -> SqlResult:
    if not db.readonly:
        raise ValueError("run_readonly needs a database opened with readonly=True")
    sql = check_readonly(statement)
    try:
        with db.engine.connect() as conn:
            result = conn.exec_driver_sql(sql)
            if not result.returns_rows:
                return SqlResult([], [], False)
            columns = list(result.keys())
            rows = [list(r) for r in result.fetchmany(max_rows + 1)]
    except sa.exc.DBAPIError as e:
        msg = str(e.orig or e).strip().splitlines()
        raise InputError(f"SQL error: {msg[0] if msg else type(e).__name__}") from None
    return SqlResult(columns, rows[:max_rows], len(rows) > max_rows)
