"""Rendering shared by every command: one Rich table or its `--json` twin, and progress lines on stderr.

On a terminal a table fits the terminal's width (Rich reads COLUMNS, else the terminal's size): one line
per row and every number whole. When the natural table is too wide, headers break after an underscore or
take a short name, text cells are cut with "…", and the columns that still do not fit are left out,
named on a line below the table. Anywhere else (a pipe, a file) a table keeps every column, as before.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

# No markup: what we print is data (summaries like "[rmsnorm] add RMSNorm", reasons, paths), never styles.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

# Short names a header takes only when its table is too wide for the terminal.
SHORT = {
    "generation": "gen",
    "parent_id": "parent",
    "parent2_id": "parent2",
    "train_flops": "flops",
    "best_vloss": "vloss",
    "test_loss": "test",
    "elapsed_s": "time_s",
    "max_rss_mb": "rss_mb",
    "migrants_in": "migr_in",
    "candidates": "cands",
    "best_candidate": "best",
    "best_fitness": "best_fit",
    "share_valid": "valid",
    "share_improving": "improving",
    "best_improvement": "best_impr",
    "mean_improvement": "mean_impr",
    "llm_calls": "calls",
}
# What a text column keeps before the columns named in `drop` are left out, in turn; the last, before
# any other column is.
TEXT_FLOORS = (32, 16, 8)


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


def _parts(header: str) -> list[str]:
    """Where a header may break: after an underscore or a space ("best_vloss" -> "best_", "vloss"), but
    never leaving a piece under 3 characters ("cpu_s" stays whole)."""
    parts: list[str] = []
    for p in re.findall(r"[^_ ]*[_ ]+|[^_ ]+", header):
        if parts and (len(p.strip("_ ")) < 3 or len(parts[-1].strip("_ ")) < 3):
            parts[-1] += p
        else:
            parts.append(p)
    return parts or [""]


def _broken_width(header: str) -> int:
    return max(cell_len(p.rstrip()) for p in _parts(header))


def _broken(header: str, width: int) -> str:
    lines = [""]
    for p in _parts(header):
        if lines[-1] and cell_len((lines[-1] + p).rstrip()) > width:
            lines.append("")
        lines[-1] += p
    return "\n".join(line.rstrip() for line in lines)


@dataclass
class _Column:
    name: str
    cells: list[str]
    text: bool  # may be cut with "…"; numbers, times and empty cells never are
    natural: int  # the widest cell
    short: str | None = None  # the name it takes when its own would not fit

    @property
    def names(self) -> list[str]:
        """Its header's forms, preferred first: the name, then its short name (each may break at "_")."""
        return [self.name, *([self.short] if self.short else [])]

    @property
    def header_min(self) -> int:
        return min(_broken_width(n) for n in self.names)

    def header(self, width: int) -> str:
        for n in self.names:
            if cell_len(n) <= width:
                return n
            if _broken_width(n) <= width:
                return _broken(n, width)
        return self.name


def _columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], short: Mapping[str, str]) -> list[_Column]:
    found = []
    for c in columns:
        values = [row.get(c) for row in rows]
        text = any(not isinstance(v, (numbers.Number, date)) and v is not None for v in values)
        # one line per row: a line break inside a text cell (a log tail, a file) becomes a space
        cells = [" ".join(fmt(v).split()) if text else fmt(v) for v in values]
        found.append(_Column(c, cells, text, max((cell_len(s) for s in cells), default=0), short.get(c)))
    return found


def _widths(cols: list[_Column], room: int, text_floor: int) -> list[int] | None:
    """Widths for `cols` within `room` cells of content, or None. Numbers keep their whole width; text
    gets at least `text_floor` (or what it needs); headers break or shorten before text is cut."""
    least = [max(c.header_min, min(c.natural, text_floor) if c.text else c.natural) for c in cols]
    spare = room - sum(least)
    if spare < 0:
        return None
    widths = list(least)
    spare = _grow_headers(cols, widths, spare)
    _grow_text(cols, widths, spare)
    return widths


def _grow_headers(cols: list[_Column], widths: list[int], spare: int) -> int:
    """While room lasts: each header as its own name (broken after underscores), then on one line. Widens
    `widths` in place; returns the room left."""
    for goal in (_broken_width, cell_len):
        for i, c in enumerate(cols):
            more = max(0, goal(c.name) - widths[i])
            if more <= spare:  # a header half-way to a longer form would only waste the room
                widths[i] += more
                spare -= more
    return spare


def _grow_text(cols: list[_Column], widths: list[int], spare: int) -> None:
    """Spend the room left on text, from the narrowest column up, so a long summary never starves a
    short persona. Widens `widths` in place."""
    while spare > 0:
        short = [i for i, c in enumerate(cols) if c.text and widths[i] < c.natural]
        if not short:
            break
        widths[min(short, key=lambda i: widths[i])] += 1
        spare -= 1


def _drop_order(cols: list[_Column], drop: Sequence[str]) -> tuple[list[int], list[int]]:
    """(the columns named in `drop`, in that order; every column that may go, in the order they go: those,
    then the others from the last one on). The first column never goes."""
    droppable = [i for d in drop for i, c in enumerate(cols) if i and c.name == d]
    return droppable, droppable + [i for i in reversed(range(1, len(cols))) if i not in droppable]


def _attempts(cols: list[_Column], drop: Sequence[str]) -> list[tuple[int, list[int]]]:
    """(text floor, columns left out) in the order `_fit` tries them."""
    droppable, order = _drop_order(cols, drop)
    attempts = [(floor, order[:k]) for floor in TEXT_FLOORS[:-1] for k in range(len(droppable) + 1)]
    return attempts + [(TEXT_FLOORS[-1], order[:k]) for k in range(len(order) + 1)]


def _fit(cols: list[_Column], width: int, drop: Sequence[str]) -> tuple[list[_Column], list[int]]:
    """The columns shown and their widths. For each floor of TEXT_FLOORS in turn, the columns in `drop`
    go one by one (in that order) until text keeps that much; at the last, the other columns go too, from
    the last one on. The first column always stays."""
    for floor, left_out in _attempts(cols, drop):
        shown = [c for i, c in enumerate(cols) if i not in left_out]
        # Rich's box: a rule before each column and after the last, and a space each side of every cell.
        widths = _widths(shown, width - 3 * len(shown) - 1, floor)
        if widths is not None:
            return shown, widths
    return cols[:1], [max(cols[0].natural, cell_len(cols[0].name))]  # too narrow for anything: Rich folds


def _print_every_column(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None) -> None:
    """A table for a pipe or a file: every column, folded where it must."""
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*(fmt(row.get(c)) for c in columns))
    out.print(table)


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    title: str | None = None,
    drop: Sequence[str] = (),
    short: Mapping[str, str] = SHORT,
) -> None:
    """`drop`: columns to leave out first when the table is too wide for the terminal; `short`: the names
    headers may take then (none for `sql`, whose headers are names to query by)."""
    if not out.is_terminal:  # a pipe or a file: every column, as before
        _print_every_column(rows, columns, title)
        return
    cols = _columns(rows, columns, short)
    shown, widths = _fit(cols, out.width, drop)
    table = Table(title=title, show_lines=False)
    for c, w in zip(shown, widths, strict=True):
        table.add_column(c.header(w), width=w, no_wrap=True, overflow="ellipsis")
    for i in range(len(rows)):
        table.add_row(*(c.cells[i] for c in shown))
    out.print(table)
    left_out = [c.name for c in cols if all(c is not s for s in shown)]
    if left_out:
        out.print(f"(not shown at this width: {', '.join(left_out)}; --json has them)", soft_wrap=False)


def print_fields(value: Mapping[str, Any], title: str | None = None) -> None:
    """A record as two columns: field, value."""
    table = Table(title=title, show_header=False)
    # On a terminal a field name stays whole; its value wraps at spaces.
    table.add_column("field", style="bold", no_wrap=out.is_terminal)
    table.add_column("value", overflow="fold")
    for k, v in value.items():
        table.add_row(k, fmt(v))
    out.print(table)


def progress(message: str) -> None:
    err.print(message)
