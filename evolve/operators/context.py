"""What an operator is told, as plain immutable values: the campaign fills them, operators only read.

Operators never query the database; everything they render arrives in these dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Parent:
    """One parent candidate. `files` maps each editable file name to its text."""

    files: Mapping[str, str]
    fitness: float | None = None  # best val loss (confirmed mean where known); None if it never scored
    label: str = ""  # the candidate's id, so the reply can be traced in the lineage
    change: str = ""  # the summary of the change that produced it
    status: str = "ok"  # for repair: the status it failed with (crashed, timeout, ...)
    reason: str = ""  # for repair: the one-line reason
    error_tail: str = ""  # for repair: the tail of its log


@dataclass(frozen=True)
class Change:
    """A successful change on the island: what was done and what it gained."""

    summary: str
    delta: float  # child fitness minus parent fitness: negative is an improvement
    persona: str = ""
    operator: str = ""


@dataclass(frozen=True)
class Context:
    island_best: float | None = None
    recent: tuple[Change, ...] = ()  # newest first


@dataclass(frozen=True)
class Limits:
    """How long a prompt may get, and the order in which context is cut to fit (see prompts.py)."""

    max_chars: int = 60_000
    max_changes: int = 5
    max_change_chars: int = 200
    max_error_chars: int = 2_000
    min_error_chars: int = 400
