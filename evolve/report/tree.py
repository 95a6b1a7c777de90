"""Which ancestors of the best candidates the report draws, and where: pure functions on lineage rows.

A campaign's lineage is a DAG (a crossover has two parents). Drawing all of a 10,000-candidate campaign
is unreadable and slow, so the report draws a bounded set: the main line (first parent, back to the seed)
of each of the best few candidates, then their other ancestors, nearest first, until the cap. A drawn
node whose parent was left out says so instead of silently looking like a root.

Layout: one row per generation, newest (the best) at the top; in each row the best's main line comes
first, so it reads as a straight spine with crossover partners and other lineages to its right.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

from evolve.lineage import Candidate


@dataclass(frozen=True)
class TreeNode:
    id: int
    parent_id: int | None
    parent2_id: int | None
    operator: str
    persona: str | None
    island: int
    generation: int
    fitness: float | None
    delta: float | None  # fitness minus the first parent's: negative is an improvement (losses)
    main: bool  # on the best candidate's first-parent line
    hidden_parents: tuple[int, ...]  # parents that exist but were not drawn (the cap)
    row: int = 0
    col: int = 0

    @property
    def gain(self) -> float | None:
        """The first parent's fitness minus this one's: the page's sign convention (positive is better)."""
        return None if self.delta is None else -self.delta


@dataclass(frozen=True)
class Tree:
    nodes: tuple[TreeNode, ...]
    edges: tuple[tuple[int, int, bool], ...]  # (parent, child, is the first parent)
    best: tuple[int, ...]  # the candidates whose lineages are drawn, best first
    ancestors: int  # how many distinct ancestors they have in all, drawn or not
    cap: int

    @property
    def truncated(self) -> bool:
        return len(self.nodes) < self.ancestors


def _parents(row: Candidate) -> tuple[int, ...]:
    return tuple(p for p in (row.parent_id, row.parent2_id) if p is not None)


def select(rows: Mapping[int, Candidate], best: Sequence[int], cap: int) -> list[int]:
    """Ids to draw, at most `cap`: main lines first (best candidate first), then the remaining ancestors
    of each best candidate breadth-first through both parents."""
    chosen: dict[int, None] = {}  # insertion-ordered set
    walks = [*(_first_parents(rows, b) for b in best), *(_breadth_first(rows, b) for b in best)]
    for i in chain.from_iterable(walks):
        if len(chosen) >= cap:
            break
        chosen.setdefault(i)
    return list(chosen)


def _first_parents(rows: Mapping[int, Candidate], start: int) -> Iterator[int]:
    """`start`, its first parent, that one's first parent, ... while they are in `rows`."""
    i: int | None = start
    while i is not None and i in rows:
        yield i
        i = rows[i].parent_id


def _breadth_first(rows: Mapping[int, Candidate], start: int) -> Iterator[int]:
    """`start`, then its ancestors in `rows` through both parents, nearest first, each once."""
    queue, seen = deque([start]), {start}
    while queue:
        n = queue.popleft()
        yield n
        for p in _parents(rows[n]):
            if p in rows and p not in seen:
                seen.add(p)
                queue.append(p)


def _main_line(rows: Mapping[int, Candidate], best: int) -> set[int]:
    line, i = set(), best
    while i is not None and i in rows and i not in line:
        line.add(i)
        i = rows[i].parent_id
    return line


def _places(rows: Mapping[int, Candidate], ids: list[int], main: set[int]) -> list[tuple[int, int, int]]:
    """(id, row, column) of each drawn node: one row per generation, newest first; in each row the main
    line first, then lower ids (older candidates) left to right."""
    gens = sorted({rows[i].generation for i in ids}, reverse=True)
    row_of = {g: n for n, g in enumerate(gens)}
    ordered = sorted(ids, key=lambda i: (row_of[rows[i].generation], i not in main, i))
    used: dict[int, int] = {}  # row -> columns taken so far
    places = []
    for i in ordered:
        row = row_of[rows[i].generation]
        used[row] = used.get(row, 0) + 1
        places.append((i, row, used[row] - 1))
    return places


def _delta(rows: Mapping[int, Candidate], r: Candidate) -> float | None:
    """The candidate's fitness minus its first parent's, when both are known."""
    parent = rows.get(r.parent_id) if r.parent_id is not None else None
    if parent is None or parent.fitness is None or r.fitness is None:
        return None
    return r.fitness - parent.fitness


def _node(i: int, row: int, col: int, rows: Mapping[int, Candidate], main: set[int], shown: set[int]) -> TreeNode:
    r = rows[i]
    return TreeNode(
        id=i,
        parent_id=r.parent_id,
        parent2_id=r.parent2_id,
        operator=r.operator,
        persona=r.persona,
        island=r.island,
        generation=r.generation,
        fitness=r.fitness,
        delta=_delta(rows, r),
        main=i in main,
        hidden_parents=tuple(p for p in _parents(r) if p not in shown),
        row=row,
        col=col,
    )


def build_tree(rows: Mapping[int, Candidate], best: Sequence[int], cap: int) -> Tree:
    """The drawn tree of the `best` candidates' lineages. `rows` holds their complete ancestry (so every
    drawn node's first parent can be looked up for its fitness change, drawn or not)."""
    if cap < 1:
        raise ValueError("the tree needs room for at least one node")
    ids = select(rows, best, cap)
    shown = set(ids)
    main = _main_line(rows, best[0]) if best else set()
    nodes = [_node(i, row, col, rows, main, shown) for i, row, col in _places(rows, ids, main)]
    edges = tuple(
        (p, n.id, p == n.parent_id) for n in nodes for p in (n.parent_id, n.parent2_id) if p is not None and p in shown
    )
    return Tree(nodes=tuple(nodes), edges=edges, best=tuple(best), ancestors=len(rows), cap=cap)
