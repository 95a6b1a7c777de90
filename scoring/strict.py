"""Plain data (a JSON message, a TOML table) read into a frozen dataclass, strictly, by its field types.

`build(cls, data, where)` refuses a key the class has no field for, a field the data lacks (unless it has
a default, and always with `complete=True`: a wire form carries every field), and a value of the wrong
type, each with one line naming `where` and the key (`Mismatch`). `plain(value)` is the inverse: the
JSON-able form. `load_toml(path, cls, where)` is the one TOML reader for a user's files (task manifests,
personas): every problem is an InputError, which the CLI prints on one line and exits 2 with.

The types understood: str, int, float (an int is taken as a float), bool, an Enum of values, `X | None`,
`tuple[X, ...]` (a list in the data), and nested frozen dataclasses (a table).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from scoring.errors import InputError

T = TypeVar("T")


class Mismatch(ValueError):
    """Data that does not fit the value it should become; the message names where and the key."""


def build(cls: type[T], data: object, where: str, *, complete: bool = False) -> T:
    """`cls` from the mapping `data`; `where` names the data in errors (a file, a table, a message)."""
    if not isinstance(data, dict):
        raise Mismatch(f"{where}: expected a table of keys, got {_kind(data)}")
    fields, hints = _fields(cls)
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        raise Mismatch(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(fields)})")
    values = {}
    for name, needed in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], where, name)
        elif needed or complete:
            raise Mismatch(_missing(where, name, hints[name]))
    return cls(**values)


@functools.cache
def _fields(cls: type) -> tuple[dict[str, bool], dict[str, Any]]:
    """Field name -> whether it is required (no default), in order; and the resolved type hints."""
    fields = {f.name: f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
              for f in dataclasses.fields(cls)}
    return fields, typing.get_type_hints(cls)


def _missing(where: str, name: str, hint: Any) -> str:
    if dataclasses.is_dataclass(hint):
        return f"{where}: missing key {name!r} (the [{name}] table)"
    return f"{where}: {name!r} is missing"


def _convert(hint: Any, value: object, where: str, name: str) -> object:
    """`value` as the type `hint` names, or Mismatch."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _optional(hint, value, where, name)
    if origin is tuple:
        return _sequence(hint, value, where, name)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, f"{where} [{name}]")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _member(hint, value, where, name)
    return _scalar(hint, value, where, name)


def _optional(hint: Any, value: object, where: str, name: str) -> object:
    args = typing.get_args(hint)
    if value is None and type(None) in args:
        return None
    (inner,) = [a for a in args if a is not type(None)]  # X | None is the only union a value has
    return _convert(inner, value, where, name)


def _sequence(hint: Any, value: object, where: str, name: str) -> tuple:
    if not isinstance(value, list):
        raise Mismatch(f"{where}: {name!r} must be {_describe(hint)}, got {_kind(value)}")
    item = typing.get_args(hint)[0]
    wrong = [v for v in value if not _fits(item, v)]
    if wrong:
        raise Mismatch(f"{where}: {name!r} must be {_describe(hint)}, got a list with {_kind(wrong[0])} in it")
    return tuple(_convert(item, v, where, name) for v in value)


def _member(hint: type[enum.Enum], value: object, where: str, name: str) -> enum.Enum:
    try:
        return hint(value)
    except ValueError:
        raise Mismatch(f"{where}: {name!r} must be {_describe(hint)}, got {value!r}"[:400]) from None


def _scalar(hint: type, value: object, where: str, name: str) -> object:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise Mismatch(f"{where}: {name!r} is a number too large for a float") from None
    if hint is Any or isinstance(value, hint) and (hint is bool or not isinstance(value, bool)):
        return value
    raise Mismatch(f"{where}: {name!r} must be {_describe(hint)}, got {_kind(value)}")


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        return "a list of " + _plural(args[0])
    if dataclasses.is_dataclass(hint):
        return "a table"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    return {str: "str", int: "int", float: "float", bool: "bool"}.get(hint, str(hint))


_PLURAL = {str: "strings", int: "integers", float: "numbers", bool: "booleans", type(None): "nulls"}


def _plural(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_plural(a) for a in typing.get_args(hint))
    return _PLURAL.get(hint, "tables" if dataclasses.is_dataclass(hint) else "values")


def _fits(hint: Any, value: object) -> bool:
    try:
        _convert(hint, value, "", "")
    except Mismatch:
        return False
    return True


def _kind(value: object) -> str:
    return {list: "a list", dict: "a table", type(None): "null"}.get(type(value), type(value).__name__)


def plain(value: object) -> object:
    """The JSON-able form of a value `build` reads: dataclasses as dicts, tuples as lists, enums as values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


class WireForm:
    """For a frozen dataclass that crosses a process boundary: `to_wire()` and the strict `from_wire()`."""

    def to_wire(self) -> dict:
        return plain(self)

    @classmethod
    def from_wire(cls: type[T], data: object) -> T:
        """Every field, of its type, and nothing else; Mismatch otherwise."""
        return build(cls, data, f"the {cls.__name__}", complete=True)


def load_toml(path: Path, cls: type[T], where: str | None = None) -> T:
    """The TOML file `path` as a `cls`; every problem an InputError on one line naming `where` (default: the
    file) and the key."""
    where = str(path) if where is None else where
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: not valid TOML ({e})") from None
    except OSError as e:
        raise InputError(f"{where}: cannot be read ({e.strerror})") from None
    try:
        return build(cls, doc, where)
    except Mismatch as e:
        raise InputError(str(e)) from None
