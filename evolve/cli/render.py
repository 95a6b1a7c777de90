"""Rendering shared by every command: one Rich table or its `--json` twin, and progress lines on stderr."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

# No markup: what we print is data (summaries like "[rmsnorm] add RMSNorm", reasons, paths), never styles.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def _plain(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null so every consumer can parse the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(_plain(value), indent=2, default=str) + "\n")


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*(fmt(row.get(c)) for c in columns))
    out.print(table)


def print_fields(value: Mapping[str, Any], title: str | None = None) -> None:
    """A record as two columns: field, value."""
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for k, v in value.items():
        table.add_row(k, fmt(v))
    out.print(table)


def progress(message: str) -> None:
    err.print(message)
