"""The words the report shares with the terminal, and its one sign convention.

Kept free of heavy imports (no matplotlib): the terminal's end-of-run summary (`evolve/cli/campaign.py`,
`print_summary`) prints `seed_gain` too, and tests/report/test_newcomer.py checks the page against what it
prints.
"""

from __future__ import annotations

# Every gain on the page (header, tree labels, leaderboard, candidate table) is a loss difference this way round.
GAIN_CONVENTION = (
    "Gain, everywhere on this page: the reference's loss minus the candidate's loss, so positive is better "
    "(the reference is the seed in the header, the first parent in the tree, the leaderboard and the table)."
)


def spread_multiple(gain: float, spread: float | None) -> str:
    """", 12.4x the seed's spread" (the terminal's wording), or "" when the seed has no spread (one
    evaluation seed, or equal losses). spread: the seed's highest loss minus its lowest over its seeds."""
    return f", {gain / spread:.1f}x the seed's spread" if spread else ""


def seed_gain(gain: float, spread: float | None) -> str:
    """The gain on the seed as the terminal prints it after "improvement over the seed: val "."""
    return f"{gain:+.4f}{spread_multiple(gain, spread)}"
