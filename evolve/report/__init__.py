"""The campaign report: one self-contained HTML page and its PNG plots, from lineage queries.

    data = gather(db, campaign_id)        # plain values (data.py, tree.py)
    pngs = plots.draw_all(data)           # matplotlib, Agg canvas (plots.py)
    html = page.render(data, pngs)        # inline CSS/JS/SVG, plots embedded (page.py, svg.py)

`write_report` does all three and writes the files atomically: the PNGs beside the HTML as
`<stem>_<plot>.png`, then the HTML, each through a temporary file renamed over the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evolve import lineage
from evolve.files import write_atomic
from evolve.report import page
from evolve.report.data import ReportData, gather
from scoring.errors import InputError

__all__ = ["ReportData", "ReportFiles", "gather", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pngs: tuple[Path, ...]
    nodes: int  # lineage nodes drawn
    ancestors: int  # candidates in the drawn lineages, drawn or not


def write_report(db: lineage.Database, campaign_id: int, out: Path, *, max_nodes: int = 120) -> ReportFiles:
    """Write the report of one campaign to `out` (an .html path) and its plots beside it."""
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise InputError(f"cannot write {out}: it is a folder; give a file name such as {out / 'report.html'}")
    # Here, not at the top: matplotlib takes half a second to import, which a reader of the light modules
    # (evolve.report.wording, shared with the terminal's summary) should not pay.
    from evolve.report import plots

    data = gather(db, campaign_id, max_nodes=max_nodes)
    pngs = plots.draw_all(data)
    written = []
    for name, png in pngs.items():
        path = out.with_name(f"{out.stem}_{name}.png")
        write_atomic(path, png)
        written.append(path)
    write_atomic(out, page.render(data, pngs).encode("utf-8"))
    return ReportFiles(out, tuple(written), len(data.tree.nodes), data.tree.ancestors)
