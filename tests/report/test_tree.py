"""Which lineage nodes the report draws and where: a hand-built DAG with a crossover and a long line."""

from __future__ import annotations

from datetime import datetime

import pytest

from evolve.lineage import Candidate
from evolve.report.tree import build_tree, select

T = datetime(2026, 1, 1)


def row(i: int, p: int | None = None, p2: int | None = None, gen: int = 0, fit: float | None = 3.0,
        persona: str | None = "newton") -> Candidate:
    op = "seed" if p is None else "crossover" if p2 else "mutate"
    return Candidate(i, 0, p, p2, op, None if p is None else persona, "ok", "", fit, model="offline", generation=gen,
                     event_no=i, created_at=T, finished_at=T)


@pytest.fixture
def dag() -> dict[int, Candidate]:
    # 1 (seed) -> 2 -> 3 -> 5 (best), and 4 (from 1) crossed into 5 as its second parent.
    rows = [row(1, fit=3.0), row(2, 1, gen=1, fit=2.9), row(3, 2, gen=2, fit=2.8), row(4, 1, gen=1, fit=2.95),
            row(5, 3, 4, gen=3, fit=2.7)]
    return {r.id: r for r in rows}


def test_the_best_lineage_is_drawn_with_both_parents_of_a_crossover(dag):
    tree = build_tree(dag, [5], cap=10)
    assert {n.id for n in tree.nodes} == {1, 2, 3, 4, 5} and not tree.truncated
    edges = set(tree.edges)
    assert (3, 5, True) in edges and (4, 5, False) in edges  # first parent solid, second dashed
    assert (1, 4, True) in edges and (2, 3, True) in edges
    nodes = {n.id: n for n in tree.nodes}
    assert [i for i in nodes if nodes[i].main] == [5, 3, 2, 1]
    assert nodes[5].delta == pytest.approx(2.7 - 2.8) and nodes[1].delta is None
    # newest on top, the main line is the left column
    assert nodes[5].row == 0 and nodes[1].row == 3
    assert all(nodes[i].col == 0 for i in (5, 3, 2, 1)) and nodes[4].col == 1


def test_the_cap_keeps_the_main_line_first_and_marks_parents_left_out(dag):
    tree = build_tree(dag, [5], cap=3)
    assert [n.id for n in sorted(tree.nodes, key=lambda n: n.row)] == [5, 3, 2]
    assert tree.truncated and tree.ancestors == 5
    nodes = {n.id: n for n in tree.nodes}
    assert nodes[5].hidden_parents == (4,) and nodes[2].hidden_parents == (1,)
    assert all(p in nodes for e in tree.edges for p in e[:2])


def test_a_long_campaign_draws_a_bounded_tree():
    rows = {1: row(1)}
    for i in range(2, 2001):  # a 2,000-deep line with a crossover every 10th step
        rows[i] = row(i, i - 1, i - 9 if i % 10 == 0 and i > 10 else None, gen=i - 1, fit=3.0 - i * 1e-4)
    ids = select(rows, [2000, 1999], cap=50)
    assert len(ids) == 50 and ids[:3] == [2000, 1999, 1998]
    assert len(build_tree(rows, [2000], cap=50).nodes) == 50


def test_several_best_candidates_share_their_common_ancestors(dag):
    tree = build_tree(dag, [5, 4], cap=10)
    assert sorted(n.id for n in tree.nodes) == [1, 2, 3, 4, 5]
    assert tree.best == (5, 4)
