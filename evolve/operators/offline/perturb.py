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


def find_sites(files: Mapping[str, str], frozen_names: Sequence[str], frozen_file: str | None,
               end_marker: str | None) -> list[Site]:
    sites: list[Site] = []
    for file in sorted(files):
        try:
            tree = syntax.parse(files[file])
        except SyntaxError:
            continue
        first = _mutable_from(files[file], file, frozen_file, end_marker)
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and _UPPER.match(node.targets[0].id) and node.targets[0].id not in frozen_names
                    and node.lineno >= first):
                value = _number(node.value)
                v = node.value
                if value and v.lineno == v.end_lineno:
                    sites.append(Site(file, node.targets[0].id, v.lineno, v.col_offset, v.end_col_offset, value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.lineno >= first:
                for kw in node.keywords:
                    value = _number(kw.value)
                    v = kw.value
                    if isinstance(value, float) and value and kw.arg and v.lineno == v.end_lineno:
                        sites.append(Site(file, f"{kw.arg}= (line {v.lineno})", v.lineno, v.col_offset,
                                          v.end_col_offset, value))
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
