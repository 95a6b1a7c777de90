"""The PNG plots' axes: an axis that counts (evaluations, candidates) has whole-number ticks, at any length."""

from __future__ import annotations

from dataclasses import replace

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from evolve import lineage
from evolve.report import gather, plots
from tests.report import small


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    s = small.build(tmp_path_factory.mktemp("plots") / "l.db")
    db = lineage.open_db(s.url, create=False, readonly=True)
    try:
        return gather(db, s.campaign_id)
    finally:
        db.close()


@pytest.mark.parametrize("evaluations", [3, 5, 8, 20, 45])  # the demo's ~20 drew a tick at 2.5 evaluations
@pytest.mark.parametrize("plot", ["best_loss", "island_loss", "migrations", "failures"])
def test_count_axes_have_integer_ticks(data, plot, evaluations):
    fig = plots.PLOTS[plot](replace(data, evaluations=evaluations))
    FigureCanvasAgg(fig).draw()
    axes = [ax for ax in fig.axes if ax.get_xticks().size]
    assert axes
    for ax in axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert len(ticks) >= 2 and all(t == int(t) for t in ticks), (plot, evaluations, ticks)
