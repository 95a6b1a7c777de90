"""The lineage tree as inline SVG markup: laid out in Python, so the page needs no drawing library.

Each node is a focusable <g class="node" data-id=...>; the page's script shows that node's diff when it
is clicked. Colour is the persona; the label is the id and the fitness change against the first parent.
"""

from __future__ import annotations

from html import escape

from evolve.report.colours import persona_colours
from evolve.report.tree import Tree, TreeNode

COL_W, ROW_H, MARGIN, RADIUS = 150, 56, 30, 11


def _xy(n: TreeNode) -> tuple[int, int]:
    return MARGIN + RADIUS + n.col * COL_W, MARGIN + RADIUS + n.row * ROW_H


def change_label(n: TreeNode) -> str:
    """'seed 2.9990', 'Δ -0.0123' (better, lower loss), or the operator when there is nothing to compare."""
    if n.parent_id is None:
        return f"seed {n.fitness:.4f}" if n.fitness is not None else "seed"
    if n.delta is None:
        return n.operator
    return f"Δ {n.delta:+.4f}"


def _title(n: TreeNode) -> str:
    parents = " + ".join(f"#{p}" for p in (n.parent_id, n.parent2_id) if p is not None) or "none"
    fitness = f"{n.fitness:.4f}" if n.fitness is not None else "-"
    return (
        f"#{n.id} {n.operator} by {n.persona or '(no persona)'} on island {n.island}, generation {n.generation}\n"
        f"fitness {fitness}; parents {parents}"
    )


def tree_svg(tree: Tree) -> str:
    if not tree.nodes:
        return '<p class="muted">No candidate has been scored yet: there is no lineage to draw.</p>'
    colours = persona_colours(n.persona for n in tree.nodes)
    pos = {n.id: _xy(n) for n in tree.nodes}
    width = MARGIN * 2 + RADIUS * 2 + max(n.col for n in tree.nodes) * COL_W + COL_W
    height = MARGIN * 2 + RADIUS * 2 + max(n.row for n in tree.nodes) * ROW_H + 14
    parts = [
        f'<svg id="tree-svg" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage of the best candidates">'
    ]
    for parent, child, first in tree.edges:
        (x1, y1), (x2, y2) = pos[parent], pos[child]
        dash = "" if first else ' stroke-dasharray="5 4"'
        cls = "edge first" if first else "edge second"
        parts.append(f'<line class="{cls}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"{dash}/>')
    best = set(tree.best[:1])
    for n in tree.nodes:
        x, y = pos[n.id]
        classes = "node" + (" main" if n.main else "") + (" best" if n.id in best else "")
        delta_class = "better" if n.delta is not None and n.delta < 0 else "worse" if n.delta else "neutral"
        parts.append(
            f'<g class="{classes}" data-id="{n.id}" data-persona="{escape(n.persona or "")}" tabindex="0" '
            f'role="button"><title>{escape(_title(n))}</title>'
            f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="{colours[n.persona]}"/>'
            f'<text class="id" x="{x + RADIUS + 5}" y="{y - 2}">#{n.id}</text>'
            f'<text class="change {delta_class}" x="{x + RADIUS + 5}" y="{y + 11}">{escape(change_label(n))}</text>'
        )
        if n.hidden_parents:
            hidden = ", ".join(f"#{p}" for p in n.hidden_parents)
            parts.append(
                f'<text class="hidden" x="{x - RADIUS}" y="{y + RADIUS + 12}">from {hidden} (not drawn)</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def legend(tree: Tree) -> str:
    colours = persona_colours(n.persona for n in tree.nodes)
    items = [
        f'<span class="swatch" style="background:{c}"></span>{escape(p or "seed")}'
        for p, c in sorted(colours.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        if any(n.persona == p for n in tree.nodes)
    ]
    items.append('<span class="line-key solid"></span>first parent')
    items.append('<span class="line-key dashed"></span>second parent (crossover)')
    return '<div class="legend">' + "".join(f"<span>{i}</span>" for i in items) + "</div>"
