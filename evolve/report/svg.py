"""The lineage tree as inline SVG markup: laid out in Python, so the page needs no drawing library.

Each node is a focusable <g class="node" data-id=...>; the page's script shows that node's diff when it
is clicked. Colour is the persona (the page's one mapping); the label is the id and the gain on the first
parent (its loss minus this one's: positive is better, as everywhere on the page).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from evolve.report.tree import Tree, TreeNode

COL_W, ROW_H, MARGIN, RADIUS = 150, 56, 30, 11


def _xy(n: TreeNode) -> tuple[int, int]:
    return MARGIN + RADIUS + n.col * COL_W, MARGIN + RADIUS + n.row * ROW_H


def change_label(n: TreeNode) -> str:
    """'seed 2.9990', 'gain +0.0123' (better: a lower loss than the first parent's), or the operator when
    there is nothing to compare."""
    if n.parent_id is None:
        return f"seed {n.fitness:.4f}" if n.fitness is not None else "seed"
    if n.gain is None:
        return n.operator
    return f"gain {n.gain:+.4f}"


def _title(n: TreeNode) -> str:
    parents = " + ".join(f"#{p}" for p in (n.parent_id, n.parent2_id) if p is not None) or "none"
    fitness = f"{n.fitness:.4f}" if n.fitness is not None else "-"
    return (
        f"#{n.id} {n.operator} by {n.persona or '(no persona)'} on island {n.island}, generation {n.generation}\n"
        f"fitness {fitness}; parents {parents}"
    )


def tree_svg(tree: Tree, colours: Mapping[str | None, str]) -> str:
    """colours: the page's persona colours (`ReportData.colours`)."""
    if not tree.nodes:
        return '<p class="muted">No candidate has been scored yet: there is no lineage to draw.</p>'
    pos = {n.id: _xy(n) for n in tree.nodes}
    width = MARGIN * 2 + RADIUS * 2 + max(n.col for n in tree.nodes) * COL_W + COL_W
    height = MARGIN * 2 + RADIUS * 2 + max(n.row for n in tree.nodes) * ROW_H + 14
    best = set(tree.best[:1])
    return "".join([
        f'<svg id="tree-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage of the best candidates">',
        *(_edge(pos[parent], pos[child], first) for parent, child, first in tree.edges),
        *(_node(n, pos[n.id], n.id in best, colours) for n in tree.nodes),
        "</svg>",
    ])


def _edge(start: tuple[int, int], end: tuple[int, int], first: bool) -> str:
    """A line from parent to child: solid to the first parent, dashed to a crossover's second."""
    (x1, y1), (x2, y2) = start, end
    dash = "" if first else ' stroke-dasharray="5 4"'
    cls = "edge first" if first else "edge second"
    return f'<line class="{cls}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"{dash}/>'


def _gain_class(n: TreeNode) -> str:
    return "better" if n.gain is not None and n.gain > 0 else "worse" if n.gain else "neutral"


def _node(n: TreeNode, xy: tuple[int, int], best: bool, colours: Mapping[str | None, str]) -> str:
    x, y = xy
    classes = "node" + (" main" if n.main else "") + (" best" if best else "")
    parts = [
        f'<g class="{classes}" data-id="{n.id}" data-persona="{escape(n.persona or "")}" tabindex="0" '
        f'role="button"><title>{escape(_title(n))}</title>'
        f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="{colours[n.persona]}"/>'
        f'<text class="id" x="{x + RADIUS + 5}" y="{y - 2}">#{n.id}</text>'
        f'<text class="change {_gain_class(n)}" x="{x + RADIUS + 5}" y="{y + 11}">{escape(change_label(n))}</text>'
    ]
    if n.hidden_parents:
        hidden = ", ".join(f"#{p}" for p in n.hidden_parents)
        parts.append(f'<text class="hidden" x="{x - RADIUS}" y="{y + RADIUS + 12}">from {hidden} (not drawn)</text>')
    parts.append("</g>")
    return "".join(parts)


def swatch(colours: Mapping[str | None, str], persona: str | None) -> str:
    """A persona's colour dot, tagged with the persona so a test can check every section agrees."""
    return f'<span class="swatch" data-persona="{escape(persona or "")}" style="background:{colours[persona]}"></span>'


def legend(tree: Tree, colours: Mapping[str | None, str]) -> str:
    items = [
        swatch(colours, p) + escape(p or "seed")
        for p in sorted({n.persona for n in tree.nodes}, key=lambda p: (p is None, p or ""))
    ]
    items.append('<span class="line-key solid"></span>first parent')
    items.append('<span class="line-key dashed"></span>second parent (crossover)')
    return '<div class="legend">' + "".join(f"<span>{i}</span>" for i in items) + "</div>"
