"""The generic edit, for any task: perturb one mutable numeric setting.

Candidates are module-level UPPER_CASE constants bound to a number (ints and floats) and float keyword
arguments of calls (`eps=1e-6`, `std=0.02`), outside the frozen region and never a frozen name. Integer
keyword arguments are left alone: they are usually structural (`dim=-1`). Zeros are skipped (scaling
them changes nothing).
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scoring import syntax

_UPPER = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Site:
    file: str
    label: str  # the constant's name, or `kwarg=` with its line
    line: int  # 1-based
    col: int  # byte offsets of the literal on its line
    end_col: int
    value: float | int


def _number(node: ast.AST) -> float | int | None:
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        sign, node = -1, node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * node.value
    return None


def _mutable_from(text: str, file: str, frozen_file: str | None, end_marker: str | None) -> int:
    """First line that may be changed: after the frozen block's end marker in the frozen file."""
    if file != frozen_file or not end_marker:
        return 1
    for i, line in enumerate(text.splitlines(), 1):
        if end_marker in line:
            return i + 1
    return 10**9  # markers missing: touch nothing in this file


def _constant_sites(file: str, tree: ast.Module, first: int, frozen_names: Sequence[str]) -> list[Site]:
    """Module-level `UPPER_CASE = <number>` from line `first` on, never a frozen name."""
    sites = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name, v = node.targets[0].id, node.value
        value = _number(v)
        if _UPPER.match(name) and name not in frozen_names and node.lineno >= first and value \
                and v.lineno == v.end_lineno:
            sites.append(Site(file, name, v.lineno, v.col_offset, v.end_col_offset, value))
    return sites


def _keyword_sites(file: str, tree: ast.Module, first: int) -> list[Site]:
    """Non-zero float keyword arguments of calls (`eps=1e-6`) from line `first` on."""
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno >= first]
    return [Site(file, f"{kw.arg}= (line {kw.value.lineno})", kw.value.lineno, kw.value.col_offset,
                 kw.value.end_col_offset, value)
            for call in calls for kw in call.keywords
            if isinstance(value := _number(kw.value), float) and value and kw.arg
            and kw.value.lineno == kw.value.end_lineno]


def find_sites(files: Mapping[str, str], frozen_names: Sequence[str], frozen_file: str | None,
               end_marker: str | None) -> list[Site]:
    """Every setting `perturb` may change, file by file in name order (files that do not parse have none)."""
    sites: list[Site] = []
    for file in sorted(files):
        try:
            tree = syntax.parse(files[file])
        except SyntaxError:
            continue
        first = _mutable_from(files[file], file, frozen_file, end_marker)
        sites += _constant_sites(file, tree, first, frozen_names) + _keyword_sites(file, tree, first)
    return sites


def fmt(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    text = f"{value:.3g}"
    return text if any(c in text for c in ".einf") else text + ".0"


def new_value(value: float | int, rng: random.Random) -> float | int:
    if isinstance(value, int):
        return value * 2 if value == 1 or rng.random() < 0.5 else value // 2
    if 0.5 <= value < 1:  # betas, momenta, keep-probabilities: move the distance to 1 instead
        return 1 - (1 - value) * rng.choice((0.5, 2.0))
    return value * rng.choice((0.5, 0.7, 1.4, 2.0))


def perturb(files: Mapping[str, str], frozen_names: Sequence[str], frozen_file: str | None,
            end_marker: str | None, rng: random.Random) -> tuple[dict[str, str], str] | None:
    """(new files, summary) with one setting changed, or None when the files have no candidate site."""
    sites = find_sites(files, frozen_names, frozen_file, end_marker)
    if not sites:
        return None
    site = rng.choice(sites)
    value = new_value(site.value, rng)
    lines = files[site.file].split("\n")
    raw = lines[site.line - 1].encode("utf-8")  # ast columns are UTF-8 byte offsets
    lines[site.line - 1] = (raw[: site.col] + fmt(value).encode() + raw[site.end_col :]).decode("utf-8")
    out = dict(files)
    out[site.file] = "\n".join(lines)
    return out, f"{site.label} {fmt(site.value)} -> {fmt(value)}"


def set_constant(files: Mapping[str, str], name: str, old: str, new: str, frozen_names: Sequence[str],
                 frozen_file: str | None, end_marker: str | None) -> dict[str, str] | None:
    """Undo a perturbation: set constant `name` from `old` back to `new` if it still holds `old`."""
    for site in find_sites(files, frozen_names, frozen_file, end_marker):
        if site.label == name and fmt(site.value) == old:
            lines = files[site.file].split("\n")
            raw = lines[site.line - 1].encode("utf-8")
            lines[site.line - 1] = (raw[: site.col] + new.encode() + raw[site.end_col :]).decode("utf-8")
            return {**files, site.file: "\n".join(lines)}
    return None
