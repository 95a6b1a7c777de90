"""The report page: ReportData and PNG bytes in, one self-contained HTML string out.

Styles, script, plots (base64) and the diffs of the drawn nodes are all inline; the page's Content
Security Policy forbids any other source, so it never reaches the network even if opened online.
"""

from __future__ import annotations

import base64
import json
from html import escape
from importlib import resources
from string import Template
from typing import Any

from evolve.report.data import CandidateRow, ReportData, SeedLevel
from evolve.report.svg import change_label, legend, swatch, tree_svg
from evolve.report.tree import TreeNode
from evolve.report.wording import GAIN_CONVENTION, seed_gain

MIGRATION_ROWS = 50  # the table lists the latest ones; the plot shows them all
SUMMARY_CHARS = 160  # an edit summary in the candidate table; the whole one is its tooltip
# Rows of the candidate table displayed at once: all are in the page and every sort sorts all of them, but
# laying out 10,000 rows takes the browser seconds, on load and again on each sort. A button shows the rest.
ROWS_SHOWN = 500


def _asset(name: str) -> str:
    return resources.files("evolve.report").joinpath(name).read_text(encoding="utf-8")


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: no '<' can close the element or open a comment."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _img(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="plot" id="plot-{name}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if k in numeric else ""}>{cell}</td>' for k, cell in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(data: ReportData) -> str:
    s = data.summary
    best = s.best
    seed = data.seed()
    facts = {
        "task": data.task,
        "status": data.status,
        "candidates": f"{s.candidates:,}",
        "evaluations": f"{data.evaluations:,}",
        "islands": str(len(data.islands)),
        "LLM calls": f"{s.llm_calls:,} ({s.llm_errors} failed)",
        "tokens in / out": f"{s.tokens_in:,} / {s.tokens_out:,}",
    }
    if data.priced:
        facts["LLM cost"] = f"${s.cost_usd:.4f}"
    if seed is not None:
        facts["seed level"] = f"#{seed.candidate}: {_num(seed.level)}{_seed_band(seed)}"
    if best is not None:
        facts["best"] = f"#{best.id}: {_num(best.fitness)} ({best.persona or best.operator})"
        if seed is not None and seed.level is not None and best.fitness is not None:
            facts["gain on the seed"] = seed_gain(seed.level - best.fitness, seed.spread)
    cells = "".join(f'<div data-fact="{escape(k)}"><span>{escape(k)}</span>{escape(v)}</div>' for k, v in facts.items())
    return f'<div class="facts" id="facts">{cells}</div><p class="muted" id="convention">{escape(GAIN_CONVENTION)}</p>'


def _seed_band(seed: SeedLevel) -> str:
    """How far the seed's own losses spread: the noise a gain on it has to beat."""
    if seed.spread is not None:
        return f" ({_num(seed.low)}–{_num(seed.high)} over {len(seed.losses)} seeds: spread {_num(seed.spread)})"
    return " (1 evaluation seed: no spread)" if len(seed.losses) == 1 else ""


def _tree_section(data: ReportData) -> str:
    t = data.tree
    if t.truncated:
        scope = (
            f"Drawn: {len(t.nodes)} of the {t.ancestors:,} candidates in the lineages of the best {len(t.best)} "
            f"(at most {t.cap}): their first-parent lines first, then the nearest other ancestors."
        )
    else:
        scope = f"All {len(t.nodes)} candidates in the lineages of the best {len(t.best)}."
    return (
        '<h2 id="lineage">Lineage of the best candidates</h2>'
        f'<p class="muted">{escape(scope)} Newest at the top; the thick ring is the best candidate, black '
        "outlines its first-parent line. Labels: id and gain on the first parent (positive = better). "
        "Click a node to see its diff.</p>"
        + legend(t, data.colours)
        + '<div class="explorer"><div id="tree">'
        + tree_svg(t, data.colours)
        + '</div><div id="diff" data-shown=""><p class="muted">Click a node to see what it changed.</p></div></div>'
    )


def _leaderboard(data: ReportData) -> str:
    def rank(r: dict[str, Any]) -> tuple:
        return (-(r["share_improving"] or 0.0), -(r["mean_improvement"] or -1e9), str(r["persona"]))

    def numbers(r: dict[str, Any]) -> list[str]:
        cells = [str(r["children"]), _pct(r["share_valid"]), _pct(r["share_improving"]),
                 _gain(r["best_improvement"]), _gain(r["mean_improvement"]), str(r["llm_calls"])]
        return [*cells, f"${r['cost_usd']:.4f}"] if data.priced else cells

    rows = [[swatch(data.colours, r["persona"]) + escape(r["persona"] or "(none)"), *numbers(r)]
            for r in sorted(data.personas, key=rank)]
    headers = ["persona", "children", "valid", "improving", "best gain", "mean gain", "LLM calls"]
    headers += ["cost"] if data.priced else []
    ops = [[escape(r["operator"]), *numbers(r)] for r in data.operators]
    note = (
        '<p class="muted">Gain: the first parent\'s loss minus the child\'s (positive = better), over '
        "children whose parent and self are both ok; shares are over all finished children.</p>"
    )
    numeric = set(range(1, len(headers)))
    return (
        '<h2 id="personas">Persona leaderboard</h2>' + note
        + '<div id="leaderboard">' + _table(headers, rows, numeric) + "</div>"
        + "<h3>By operator</h3>" + _table(["operator", *headers[1:]], ops, numeric)
    )


def _gain(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _candidate_cells(c: CandidateRow, colours: dict[str | None, str]) -> list[tuple[str, str]]:
    """(extra attributes, HTML) of each cell of a candidate's row."""
    summary = c.summary or ""
    if len(summary) > SUMMARY_CHARS:  # the whole of it on hover
        summary = f'<span title="{escape(summary[:2000])}">{escape(summary[: SUMMARY_CHARS - 1])}…</span>'
    else:
        summary = escape(summary) or "-"
    status = escape(c.status)
    if c.reason:
        status = f'<span title="{escape(c.reason[:2000])}">{status}</span>'

    def exact(value: float | None, text: str) -> tuple[str, str]:  # a rounded number sorts by its value
        return ("", text) if value is None else (f' data-value="{value!r}"', text)

    return [
        ("", f"#{c.id}"),
        ("", str(c.island)),
        ("", swatch(colours, c.persona) + escape(c.persona or "(none)")),
        ("", escape(c.operator)),
        ("", " + ".join(f"#{p}" for p in (c.parent_id, c.parent2_id) if p is not None) or "-"),
        ("", summary),
        ("", status),
        exact(c.fitness, _num(c.fitness)),
        exact(c.gain, _gain(c.gain)),
        ("", "-" if c.train_flops is None else f"{c.train_flops:.3g}"),
    ]


CANDIDATE_COLUMNS = ("id", "island", "persona", "operator", "parents", "edit summary", "status", "fitness",
                     "gain on parent", "training FLOPs")
# Sorted by number: a cell's data-value if it has one, else its text ("#12" is 12, "+0.01" 0.01, "-" a blank,
# which sorts last either way). The other columns sort by their text.
NUMERIC_COLUMNS = {0, 1, 4, 7, 8, 9}


def _candidates(data: ReportData) -> str:
    """Every candidate, in a table the page's script sorts by any column (click its header)."""
    head = "".join(
        f'<th data-sort="{"num" if k in NUMERIC_COLUMNS else "text"}"'
        f'{" aria-sort=ascending" if k == 0 else ""}>{escape(h)}</th>'
        for k, h in enumerate(CANDIDATE_COLUMNS)
    )
    rows = []
    for n, c in enumerate(data.candidates):
        cells = []
        for k, (attrs, html) in enumerate(_candidate_cells(c, data.colours)):
            cells.append(f"<td{' class=num' if k in NUMERIC_COLUMNS else ''}{attrs}>{html}</td>")
        rows.append(f"<tr{' hidden' if n >= ROWS_SHOWN else ''}>{''.join(cells)}</tr>")
    more = ""
    if len(rows) > ROWS_SHOWN:
        more = (f'<p class="muted" id="candidates-shown">Shown: the first {ROWS_SHOWN:,} in the order sorted '
                f'(a sort sorts all {len(rows):,}). <button type="button" data-show-all="candidate-table">'
                f"Show all {len(rows):,}</button></p>")
    return (
        f'<h2 id="candidates">Every candidate ({len(data.candidates):,})</h2>'
        '<p class="muted">Click a column\'s header to sort by it (again to reverse). Gain on parent: the first '
        "parent's loss minus this one's (positive = better), where both are ok. Hover a status for its reason, "
        "a cut summary (…) for all of it.</p>" + more
        + f'<div class="table-scroll"><table id="candidate-table" class="sortable" data-shown="{ROWS_SHOWN}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _failures(data: ReportData) -> str:
    if not data.failures:
        return '<h2 id="failures">Failures</h2><p id="failure-table">No candidate failed.</p>'
    rows = []
    for f in data.failures:
        examples = "<br>".join(
            f"{escape(e['reason'][:300] or '(no reason recorded)')} "
            f'<span class="muted">({e["count"]}×, e.g. #{e["candidate"]})</span>'
            for e in f["examples"]
        )
        rows.append([escape(f["status"]), str(f["count"]), examples])
    return (
        '<h2 id="failures">Failures by status</h2><div id="failure-table">'
        + _table(["status", "candidates", "most frequent reasons"], rows, {1})
        + "</div>"
    )


def _migrations(data: ReportData) -> str:
    if not data.migrations:
        return ""
    latest = data.migrations[-MIGRATION_ROWS:]
    rows = [
        [str(m.evaluation), f"{m.source} → {m.target}", "-" if m.round is None else str(m.round),
         ", ".join(f"#{c}" for c in m.candidates)]
        for m in reversed(latest)
    ]
    more = len(data.migrations) - len(latest)
    note = f'<p class="muted">{more} earlier migrations are in the plot only.</p>' if more else ""
    return _table(["at evaluation", "islands", "round", "migrants"], rows, {0}) + note


def _nodes_json(data: ReportData) -> dict[str, Any]:
    def detail(n: TreeNode) -> str:
        parents = " and ".join(f"#{p}" for p in (n.parent_id, n.parent2_id) if p is not None)
        who = f"{n.operator} by {n.persona}" if n.persona else n.operator
        bred = f"{who} from {parents}" if parents else who
        return f"{bred}; island {n.island}, generation {n.generation}; fitness {_num(n.fitness)}"

    return {
        str(n.id): {"title": f"#{n.id}: {change_label(n)}", "detail": detail(n)}
        for n in data.tree.nodes
    }


def _tradeoff(data: ReportData) -> str:
    best, cheapest = data.cost_highlights()
    head = '<h2 id="compute">Loss against training compute</h2>'
    if best is None:
        return head + '<p class="muted">No ok candidate has a measured training cost.</p>'
    seed = min((p for p in data.costs if p.seed), key=lambda p: p.fitness, default=None)
    lines = [f"Lowest loss: #{best.id}, {_num(best.fitness)} at {best.train_flops:.3g} FLOPs"
             + (f" ({best.train_flops / seed.train_flops:.2f}x the seed's)" if seed else "") + "."]
    if cheapest is not None and seed is not None:
        lines.append(f"Cheapest within the seed's loss ({_num(seed.fitness)}): #{cheapest.id}, "
                     f"{_num(cheapest.fitness)} at {cheapest.train_flops:.3g} FLOPs "
                     f"({cheapest.train_flops / seed.train_flops:.2f}x the seed's).")
    front = sum(p.front for p in data.costs)
    lines.append(f"{front} of the {len(data.costs)} ok candidates with a measured cost are on the Pareto front "
                 "(none other has a lower loss at a lower cost).")
    return head + '<p class="muted">Training FLOPs: torch\'s count of the first training step times the steps '\
        "taken.</p><p>" + " ".join(escape(x) for x in lines) + "</p>"


def _llm(data: ReportData, png: bytes) -> str:
    """Tokens always; cost only when some call had a price (never a row of $0.0000 for the offline operator)."""
    if not data.priced:
        return (
            '<h2 id="llm">LLM calls and tokens</h2><p class="muted" id="llm-unpriced">No LLM call had a price '
            "(the offline operator, or a model litellm cannot price), so the report shows no cost.</p>"
            + _img("llm_usage", png, "LLM tokens over time")
        )
    s = data.summary
    cost = f"{s.llm_calls:,} calls cost ${s.cost_usd:.4f} in all" + (
        f" (${s.cost_usd / s.llm_calls:.4f} a call)." if s.llm_calls else ".")
    return (
        f'<h2 id="llm">LLM cost and tokens</h2><p id="llm-cost">{escape(cost)}</p>'
        + _img("llm_usage", png, "LLM cost and tokens over time")
    )


def render(data: ReportData, pngs: dict[str, bytes]) -> str:
    body = [
        f"<h1>Campaign {escape(data.campaign)}</h1>",
        f'<p class="muted">From the lineage database as of {escape(str(data.summary.campaign.updated_at)[:19])}'
        " UTC.</p>",
        _facts(data),
        '<h2 id="loss">Best validation loss</h2>',
        '<p class="muted">Step line: the best fitness so far (mean over confirmation seeds). Dashed: the seed\'s '
        "level; grey band: the spread of the seed's own losses over its seeds — gains inside it may be noise.</p>",
        _img("best_loss", pngs["best_loss"], "best validation loss over evaluations"),
        _img("island_loss", pngs["island_loss"], "best validation loss per island"),
        _tree_section(data),
        _leaderboard(data),
        _img("personas", pngs["personas"], "share of improving children per persona"),
        _candidates(data),
        _failures(data),
        _img("failures", pngs["failures"], "candidates by final status"),
        '<h2 id="migrations">Migrations</h2>',
        _img("migrations", pngs["migrations"], "migrations over time"),
        _migrations(data),
        _llm(data, pngs["llm_usage"]),
        _tradeoff(data),
        _img("tradeoff", pngs["tradeoff"], "validation loss against training FLOPs"),
    ]
    page = Template(_asset("template.html"))
    return page.substitute(
        title=escape(f"evolve report: {data.campaign}"),
        css=_asset("report.css"),
        js=_asset("report.js"),
        body="\n".join(body),
        nodes=_script_json(_nodes_json(data)),
        diffs=_script_json({str(k): v for k, v in data.diffs.items()}),
    )
