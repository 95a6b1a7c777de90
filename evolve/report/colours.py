"""One colour per persona for the whole page: the tree, its legend, the leaderboard, the candidate table
and the PNG plots all read the one mapping `gather` makes with `persona_colours`, so a persona has the same
colour in every section (a mapping made per section from that section's personas would not)."""

from __future__ import annotations

from collections.abc import Iterable

# Tableau's ten categorical colours: distinguishable for most colour-vision deficiencies at this count.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
)
SEED = "#404040"  # a seed (or an imported start) has no persona
ISLANDS = PALETTE


def persona_colours(personas: Iterable[str | None]) -> dict[str | None, str]:
    """Colours by sorted persona name, so the same campaign always gets the same colours. Give it every
    persona of the campaign, once (`ReportData.colours`); every section looks its personas up there."""
    names = sorted({p for p in personas if p is not None})
    colours: dict[str | None, str] = {p: PALETTE[n % len(PALETTE)] for n, p in enumerate(names)}
    colours[None] = SEED
    return colours

