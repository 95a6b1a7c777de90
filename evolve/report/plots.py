"""The report's PNG plots, drawn with matplotlib's object API on the Agg canvas.

No pyplot: its global figure registry and backend selection are process state a library must not touch
(and a headless machine has no display). Each function in PLOTS takes ReportData and returns its Figure;
`draw_all` renders them to PNG bytes. An x axis that counts has integer ticks only (no "2.5 evaluations").
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from evolve.report.colours import ISLANDS
from evolve.report.data import CostPoint, Curve, ReportData, SeedLevel

DPI = 100
COST = "#2ca02c"  # the cumulative cost line of the LLM usage plot


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _count_axis(ax: Axes) -> None:
    """An x axis that counts (evaluations, candidates): ticks on whole numbers only."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # 10, 20, not 8, 16


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _step_xy(curve: Curve, last: int) -> tuple[list[int], list[float]]:
    xs = [x for x, _ in curve.steps]
    ys = [y for _, y in curve.steps]
    if xs and last > xs[-1]:
        xs.append(last)  # the best holds until the last evaluation
        ys.append(ys[-1])
    return xs, ys


def _seed_band(ax: Axes, seed: SeedLevel | None, last: int, label: bool) -> None:
    if seed is None or seed.level is None:
        return
    ax.axhline(seed.level, color="#404040", ls="--", lw=1, label=f"seed #{seed.candidate} level" if label else None)
    if seed.low is not None and seed.high is not None and seed.high > seed.low:
        ax.axhspan(
            seed.low,
            seed.high,
            color="#999999",
            alpha=0.25,
            label=f"seed noise band ({len(seed.losses)} seeds)" if label else None,
        )


def _seed_of(data: ReportData, island: int | None) -> SeedLevel | None:
    """The island's seed; overall, the best seed (every island starts from the seeds)."""
    pool = [s for s in data.seeds if s.level is not None and (island is None or island in s.islands)]
    return min(pool, key=lambda s: s.level or math.inf) if pool else None


def best_loss(data: ReportData) -> Figure:
    """Best validation loss so far over evaluations, all islands together, against the seed."""
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    last = data.evaluations
    if not data.overall.steps:
        _empty(ax, "no candidate has a validation loss yet")
        return fig
    if data.scored:
        ax.scatter(
            [x for x, _ in data.scored], [y for _, y in data.scored], s=8, color="#6b7785", alpha=0.3,
            label="each ok candidate", zorder=1,
        )
    xs, ys = _step_xy(data.overall, last)
    ax.step(xs, ys, where="post", color="black", lw=2, label="best so far", zorder=3)
    _seed_band(ax, _seed_of(data, None), last, label=True)
    _zoom(ax, ys, _seed_of(data, None))
    ax.set_xlabel("evaluations")
    _count_axis(ax)
    ax.set_ylabel("validation loss (lower is better)")
    ax.set_title(f"{data.campaign}: best validation loss")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _zoom(ax: Axes, ys: list[float], seed: SeedLevel | None) -> None:
    """Frame the best curve and the seed band, not the worst candidates: the gains are small."""
    hi = max([*ys, *([seed.high or seed.level or ys[0]] if seed else [])])
    lo = min(ys)
    pad = max((hi - lo) * 0.15, 1e-3)
    ax.set_ylim(lo - pad, hi + pad)


def island_loss(data: ReportData) -> Figure:
    """One small panel per island: its best so far (migrants count from their arrival) and its seed."""
    n = max(1, len(data.per_island))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols + 1, 2.6 * rows + 0.6))
    last = data.evaluations
    for k, curve in enumerate(data.per_island or (data.overall,)):
        ax = fig.add_subplot(rows, cols, k + 1)
        if not curve.steps:
            _empty(ax, f"{curve.label}: nothing scored")
            continue
        xs, ys = _step_xy(curve, last)
        ax.step(xs, ys, where="post", color=ISLANDS[k % len(ISLANDS)], lw=2, label="best so far")
        seed = _seed_of(data, curve.island)
        _seed_band(ax, seed, last, label=k == 0)
        _zoom(ax, ys, seed)
        ax.set_title(curve.label, fontsize=10)
        _count_axis(ax)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("best validation loss per island (x: evaluations)", fontsize=11)
    fig.tight_layout()
    return fig


def personas(data: ReportData) -> Figure:
    """Share of each persona's children that beat their first parent, and how many children it had."""
    rows = [r for r in data.personas if r["persona"] is not None]
    fig = Figure(figsize=(9, 0.5 * max(3, len(rows)) + 1.2))
    ax = fig.add_subplot()
    if not rows:
        _empty(ax, "no persona has had a child yet")
        return fig
    colours = data.colours  # the page's one mapping: the same colour as in the tree and the tables
    rows = sorted(rows, key=lambda r: (r["share_improving"] or 0.0, r["persona"]))
    shares = [100 * (r["share_improving"] or 0.0) for r in rows]
    ax.barh([r["persona"] for r in rows], shares, color=[colours[r["persona"]] for r in rows])
    for y, (share, r) in enumerate(zip(shares, rows, strict=True)):
        ax.text(share, y, f" {r['improving']}/{r['children']}", va="center", fontsize=8)
    ax.set_xlabel("children that improved on their first parent (%)")
    ax.set_xlim(0, max(100.0, max(shares) * 1.15))
    ax.set_title("persona leaderboard")
    fig.tight_layout()
    return fig


def failures(data: ReportData) -> Figure:
    """Finished candidates by status: how many were ok and how many failed in each way."""
    counts = {"ok": data.summary.by_status.get("ok", 0)}
    counts.update({f["status"]: f["count"] for f in data.failures})
    fig = Figure(figsize=(9, 0.45 * len(counts) + 1.4))
    ax = fig.add_subplot()
    names = list(reversed(counts))
    values = [counts[k] for k in names]
    ax.barh(names, values, color=["#2ca02c" if k == "ok" else "#d62728" for k in names])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_xlabel("candidates")
    _count_axis(ax)
    ax.set_xlim(0, max(1, max(values)) * 1.12)
    ax.set_title("candidates by final status")
    fig.tight_layout()
    return fig


def migrations(data: ReportData) -> Figure:
    """Each migration as an arrow from the source island to the target, at the evaluation it happened."""
    fig = Figure(figsize=(9, 3.6))
    ax = fig.add_subplot()
    if not data.migrations:
        why = "one island: nothing to migrate" if len(data.islands) < 2 else "no migration yet"
        _empty(ax, why)
        return fig
    colours = [ISLANDS[m.source % len(ISLANDS)] for m in data.migrations]
    xs = [m.evaluation for m in data.migrations]
    sources = [m.source for m in data.migrations]
    # One quiver for all arrows: an annotate per migration takes seconds for a long campaign's hundreds.
    ax.quiver(
        xs, sources, [0] * len(xs), [m.target - m.source for m in data.migrations], color=colours,
        angles="xy", scale_units="xy", scale=1, width=0.002, headwidth=5, headlength=6, alpha=0.8,
    )
    ax.scatter(xs, sources, color=colours, s=14, zorder=3)
    ax.set_xlim(0, max(1, data.evaluations) * 1.02)
    ax.set_ylim(min(data.islands) - 0.5, max(data.islands) + 0.5)
    ax.set_yticks(list(data.islands))
    ax.set_ylabel("island")
    ax.set_xlabel("evaluations")
    _count_axis(ax)
    ax.set_title(f"migrations over time ({len(data.migrations)}; arrow: from island -> to island)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def llm_usage(data: ReportData) -> Figure:
    """Cumulative tokens (in, out) and cost in USD of the LLM calls, over minutes since launch."""
    fig = Figure(figsize=(9, 3.8))
    ax = fig.add_subplot()
    if not data.llm:
        _empty(ax, "no LLM call recorded")
        return fig
    minutes = [p.minute for p in data.llm]
    ax.plot(minutes, [p.tokens_in for p in data.llm], color="#1f77b4", label="tokens in")
    ax.plot(minutes, [p.tokens_out for p in data.llm], color="#ff7f0e", label="tokens out")
    ax.set_xlabel("minutes since launch")
    ax.set_ylabel("tokens (cumulative)")
    lines = ax.get_legend_handles_labels()
    last = data.llm[-1]
    title = f"LLM usage: {len(data.llm)} calls ({last.failed} failed)"
    if data.priced:  # no cost axis reading $0 for the offline operator or a model litellm cannot price
        cost_ax = ax.twinx()
        cost_ax.plot(minutes, [p.cost_usd for p in data.llm], color=COST, lw=2, label="cost (USD)")
        cost_ax.set_ylabel("USD (cumulative)")
        cost_ax.set_ylim(bottom=0, top=last.cost_usd * 1.1)
        more = cost_ax.get_legend_handles_labels()
        lines = (lines[0] + more[0], lines[1] + more[1])
        title += f", ${last.cost_usd:.4f}"
    ax.legend(*lines, loc="upper left", fontsize=8)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def tradeoff(data: ReportData) -> Figure:
    """Validation loss against training FLOPs for every ok candidate: the front drawn, the seeds marked."""
    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    if not data.costs:
        _empty(ax, "no ok candidate with a measured training cost")
        return fig
    ax.scatter(*_flops_loss(p for p in data.costs if not p.seed), s=14, color="#9aa5b1", label="ok candidates")
    front = sorted((p for p in data.costs if p.front), key=lambda p: p.train_flops)
    ax.step(*_flops_loss(front), where="post", color="#c2410c", lw=1.5, marker="o", ms=4,
            label=f"Pareto front ({len(front)})")
    ax.scatter(*_flops_loss(p for p in data.costs if p.seed), s=90, marker="*", color="#111111", zorder=3,
               label="seed")
    _annotate_highlights(ax, data)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (first step's count x steps)")
    ax.set_ylabel("validation loss (fitness)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def _flops_loss(points: Iterable[CostPoint]) -> tuple[list[float], list[float]]:
    """The points' (x, y) on the trade-off plot: training FLOPs, validation loss."""
    listed = list(points)
    return [p.train_flops for p in listed], [p.fitness for p in listed]


def _annotate_highlights(ax: Axes, data: ReportData) -> None:
    best, cheapest = data.cost_highlights()
    for point, text in ((best, "lowest loss"), (cheapest, "cheapest within the seed's loss")):
        if point is not None:
            ax.annotate(f"#{point.id} {text}", (point.train_flops, point.fitness), textcoords="offset points",
                        xytext=(6, 6), fontsize=8)


PLOTS = {
    "best_loss": best_loss,
    "island_loss": island_loss,
    "personas": personas,
    "failures": failures,
    "migrations": migrations,
    "llm_usage": llm_usage,
    "tradeoff": tradeoff,
}


def draw_all(data: ReportData) -> dict[str, bytes]:
    return {name: _png(draw(data)) for name, draw in PLOTS.items()}
