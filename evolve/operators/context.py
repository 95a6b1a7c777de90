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
class Attempt:
    """An earlier child of the same parent: what it tried and how it ended, so the LLM need not repeat it."""

    label: str  # the child's candidate id
    summary: str  # its one-line account of the change ("" when the reply had none)
    status: str  # pending, running, ok, rejected, constraint_violation, crashed, ...
    reason: str = ""  # why it was rejected or failed
    delta: float | None = None  # ok: child minus parent fitness
    persona: str = ""
    operator: str = ""


@dataclass(frozen=True)
class Context:
    island_best: float | None = None
    recent: tuple[Change, ...] = ()  # newest first
    attempts: tuple[Attempt, ...] = ()  # earlier children of the (first) parent, newest first


@dataclass(frozen=True)
class Request:
    """What a prompt asks for, as values: rendered into the prompt's text (prompts.py) and handed as it is
    to the offline operator; read back from the text (offline/prompt_view.py) only where text is all there
    is (the loopback server)."""

    operator: str
    persona: str
    tags: tuple[str, ...]
    parent: dict[str, str]  # the parent's editable files (parent A for crossover)
    other: dict[str, str] | None  # parent B's (crossover)
    editable: tuple[str, ...]
    frozen_file: str | None
    end_marker: str | None
    frozen_names: tuple[str, ...]
    last_change: str  # the parent's last change, as the prompt shows it
    failure: str  # repair: the failure heading (status and reason) and the error tail shown
    tried: tuple[str, ...] = ()  # the earlier attempts' lines, as the prompt shows them


@dataclass(frozen=True)
class Limits:
    """How long a prompt may get, and the order in which context is cut to fit (see prompts.py)."""

    max_chars: int = 60_000
    max_changes: int = 5
    max_change_chars: int = 200
    max_error_chars: int = 2_000
    min_error_chars: int = 400
    max_attempts: int = 8
    max_reason_chars: int = 300  # the newest rejected attempt's reason; older ones get half
