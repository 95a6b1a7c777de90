"""What an operator is told, as plain immutable values: the campaign fills them, operators only read.

Operators never query the database; everything they render arrives in these dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from evolve.kinds import Operator, ReplyFormat


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
    """What a prompt asks for, as values: rendered into the prompt's text (prompts.py) for an LLM, and
    handed as it is to the offline operator, in process or, as JSON beside the messages (`to_wire`), through
    the loopback server."""

    operator: Operator
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
    reply_format: ReplyFormat = ReplyFormat.FULL  # what the reply should be: whole files or edits

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready dict: every field, tuples as lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_wire(cls, wire: object) -> Request:
        """The Request `to_wire` gave, from its decoded JSON; ValueError naming the first field that is
        missing, unknown or of the wrong type. Nothing is guessed or defaulted."""
        checked = _checked(wire)
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in checked.items()}
        return cls(**{**values, "operator": Operator(checked["operator"]),
                      "reply_format": ReplyFormat(checked["reply_format"])})


def _text(v: object) -> bool:
    return isinstance(v, str)


def _texts(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _files(v: object) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


def _or_none(fits: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: v is None or fits(v)


def _operator(v: object) -> bool:  # what a prompt can ask for: not a seed
    return isinstance(v, str) and v in (Operator.MUTATE, Operator.CROSSOVER, Operator.REPAIR)


def _checked(wire: object) -> dict[str, Any]:
    """`wire` when it holds exactly Request's fields, each with a value it accepts; else ValueError."""
    if not isinstance(wire, dict):
        raise ValueError(f"a request is a JSON object, not {type(wire).__name__}")
    missing, unknown = sorted(set(_WIRE) - set(wire)), sorted(set(wire) - set(_WIRE))
    if missing or unknown:
        raise ValueError(f"request fields missing: {missing or 'none'}; unknown: {unknown or 'none'}")
    bad = next((k for k, fits in _WIRE.items() if not fits(wire[k])), None)
    if bad is not None:
        raise ValueError(f"request field {bad!r} has the wrong type or value: {str(wire[bad])[:80]!r}")
    return wire


_WIRE: dict[str, Callable[[object], bool]] = {  # Request's fields, each with the JSON values it accepts
    "operator": _operator, "persona": _text, "tags": _texts, "parent": _files, "other": _or_none(_files),
    "editable": _texts, "frozen_file": _or_none(_text), "end_marker": _or_none(_text), "frozen_names": _texts,
    "last_change": _text, "failure": _text, "tried": _texts,
    "reply_format": lambda v: isinstance(v, str) and v in tuple(ReplyFormat),
}


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
