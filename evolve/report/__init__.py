"""The campaign report: one self-contained HTML page and its PNG plots, from lineage queries.

    data = gather(db, campaign_id)        # plain values (data.py, tree.py)
    pngs = plots.draw_all(data)           # matplotlib, Agg canvas (plots.py)
    html = page.render(data, pngs)        # inline CSS/JS/SVG, plots embedded (page.py, svg.py)

`write_report` does all three and writes the files atomically: the PNGs beside the HTML as
`<stem>_<plot>.png`, then the HTML, each through a temporary file renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evolve import lineage
from evolve.report import page, plots
from evolve.report.data import ReportData, gather
from scoring.errors import InputError

__all__ = ["ReportData", "ReportFiles", "gather", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pngs: tuple[Path, ...]
    nodes: int  # lineage nodes drawn
    ancestors: int  # candidates in the drawn lineages, drawn or not


def _write_atomically(path: Path, content: bytes) -> None:
    """A reader (or a crash) never sees half a file: write beside the target, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be opened and shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(db: lineage.Database, campaign_id: int, out: Path, *, max_nodes: int = 120) -> ReportFiles:
    """Write the report of one campaign to `out` (an .html path) and its plots beside it."""
    if not out.parent.is_dir():
        raise InputError(f"cannot write {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise InputError(f"cannot write {out}: it is a folder; give a file name such as {out / 'report.html'}")
    data = gather(db, campaign_id, max_nodes=max_nodes)
    pngs = plots.draw_all(data)
    written = []
    for name, png in pngs.items():
        path = out.with_name(f"{out.stem}_{name}.png")
        _write_atomically(path, png)
        written.append(path)
    _write_atomically(out, page.render(data, pngs).encode("utf-8"))
    return ReportFiles(out, tuple(written), len(data.tree.nodes), data.tree.ancestors)
