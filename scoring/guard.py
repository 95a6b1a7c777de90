"""The constraint guard: a candidate may change anything except the task's frozen protocol.

Checked on the syntax tree, so formatting and comments never matter:
- the frozen block (between the task's markers) is the seed's, statement for statement;
- nothing but a docstring, comments and `__future__` imports comes before it (code there could change the
  environment the frozen block reads, e.g. the seed or the smoke switch);
- code outside the block never rebinds a frozen name (assignment, def, import, `global`, attribute or
  `globals()[...]` store, `setattr`) and never names the frozen block's private data.
The runner re-checks the frozen values while the candidate runs; this is the static half.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping

from scoring import syntax
from scoring.task import Frozen, Task


def frozen_region(text: str, task: Task | Frozen) -> tuple[int, int] | str:
    """(first, last) 1-based line numbers strictly inside the markers, or a reason they are unusable."""
    fz = task.frozen if isinstance(task, Task) else task
    lines = text.splitlines()
    begins = [i for i, line in enumerate(lines, 1) if fz.begin_marker in line]
    ends = [i for i, line in enumerate(lines, 1) if fz.end_marker in line]
    if len(begins) != 1 or len(ends) != 1:
        return (f"the frozen block markers ('{fz.begin_marker}' / '{fz.end_marker}') "
                f"must each appear exactly once in {fz.file}")
    if begins[0] >= ends[0]:
        return f"the '{fz.end_marker}' marker comes before '{fz.begin_marker}'"
    return begins[0] + 1, ends[0] - 1


def _region_statements(tree: ast.Module, region: tuple[int, int]) -> tuple[list, list, list]:
    """Split a module's top-level statements into before / inside / after the region."""
    before, inside, after = [], [], []
    for node in tree.body:
        if node.end_lineno < region[0]:
            before.append(node)
        elif node.lineno > region[1]:
            after.append(node)
        elif node.lineno >= region[0] and node.end_lineno <= region[1]:
            inside.append(node)
        else:
            raise ValueError(f"a statement at line {node.lineno} straddles a frozen block marker")
    return before, inside, after


def _dump(node: ast.AST) -> str:
    return ast.dump(node, include_attributes=False)


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).strip().splitlines()[0]
    return text if len(text) <= 70 else text[:67] + "..."


def _compare_blocks(seed: list, seed_dumps: tuple[str, ...], cand: list) -> str | None:
    for a, dump_a, b in zip(seed, seed_dumps, cand, strict=False):
        if dump_a != _dump(b):
            return f"frozen block changed: `{_short(a)}` became `{_short(b)}`"
    if len(seed) > len(cand):
        return f"frozen block changed: `{_short(seed[len(cand)])}` was removed"
    if len(cand) > len(seed):
        return f"frozen block changed: `{_short(cand[len(seed)])}` was added"
    return None


def _allowed_prelude(node: ast.stmt, index: int) -> bool:
    if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return isinstance(node.value.value, str)
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


# Kept whole (complexity 24): one flat dispatch on the node kind, a branch of two lines per kind, on the hot path.
def _names(node: ast.AST) -> Iterable[tuple[bool, str, int]]:
    """(binds, name, line) for every name a statement tree mentions (binds=False) and every name it binds or
    stores into (binds=True: assignment, def, import, `global`, attribute and globals()[...] stores,
    setattr/delattr with a literal name). One walk of the tree for both questions the guard asks."""
    for sub in ast.walk(node):
        cls = type(sub)
        if cls is ast.Name:
            yield False, sub.id, sub.lineno
            if type(sub.ctx) is not ast.Load:
                yield True, sub.id, sub.lineno
        elif cls is ast.Attribute:
            yield False, sub.attr, sub.lineno
            if type(sub.ctx) is not ast.Load:
                yield True, sub.attr, sub.lineno
        elif cls is ast.Subscript:
            if type(sub.ctx) is not ast.Load and isinstance(sub.slice, ast.Constant) \
                    and isinstance(sub.slice.value, str):
                yield True, sub.slice.value, sub.lineno
        elif cls in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            yield True, sub.name, sub.lineno
        elif cls in (ast.Global, ast.Nonlocal):
            for name in sub.names:
                yield True, name, sub.lineno
        elif cls in (ast.Import, ast.ImportFrom):
            for alias in sub.names:
                yield True, (alias.asname or alias.name).split(".")[0], sub.lineno
        elif cls is ast.alias:
            yield False, (sub.asname or sub.name).split(".")[-1], getattr(sub, "lineno", 0)
        elif cls is ast.Call and isinstance(sub.func, ast.Name) and sub.func.id in ("setattr", "delattr"):
            if len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str):
                yield True, sub.args[1].value, sub.lineno


def _check_mutable(file: str, statements: list, fz: Frozen) -> list[str]:
    frozen, private = set(fz.names), set(fz.private)
    problems = []
    for stmt in statements:
        for binds, name, line in _names(stmt):
            if binds:
                if name in frozen:
                    problems.append(f"{file} line {line} rebinds the frozen name {name!r}")
            elif name in private:
                problems.append(f"{file} line {line} uses {name!r}, which only the frozen block may touch")
    return problems


def check(task: Task, files: Mapping[str, str]) -> list[str]:
    """Every way `files` breaks the task's frozen protocol, as readable sentences; [] when none.

    `files` maps each editable file name to its text and must parse (syntax is checked before this).
    """
    problems: list[str] = []
    for name, text in files.items():
        if name not in task.editable:
            problems.append(f"{name} is not an editable file of task {task.name!r}")
            continue
        problems += _check_file(task.frozen, task.seed_files[task.frozen.file], name, text)
    return problems


@functools.lru_cache(maxsize=8)
def _seed_block(fz: Frozen, seed_text: str, name: str) -> tuple[list, tuple[str, ...]]:
    """The seed's frozen statements and their dumps: the same for every candidate of a task."""
    inside = _region_statements(syntax.parse(seed_text, name), frozen_region(seed_text, fz))[1]
    return inside, tuple(_dump(node) for node in inside)


@functools.lru_cache(maxsize=512)
def _check_file(fz: Frozen, seed_text: str, name: str, text: str) -> tuple[str, ...]:
    """One file's problems. Cached: a child usually leaves most files exactly as its parent had them."""
    tree = syntax.parse_shared(text, name)
    if name != fz.file:
        return tuple(_check_mutable(name, tree.body, fz))
    region = frozen_region(text, fz)
    if isinstance(region, str):
        return (region,)
    try:
        seed_block, seed_dumps = _seed_block(fz, seed_text, name)
        before, inside, after = _region_statements(tree, region)
    except ValueError as e:
        return (f"{name}: {e}",)
    problems = []
    changed = _compare_blocks(seed_block, seed_dumps, inside)
    if changed:
        problems.append(changed)
    for i, node in enumerate(before):
        if not _allowed_prelude(node, i):
            problems.append(f"{name} line {node.lineno}: only a docstring and comments may come "
                            f"before the frozen block, found `{_short(node)}`")
    return tuple(problems + _check_mutable(name, after, fz))
