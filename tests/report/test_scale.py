"""A 10,000-candidate campaign: the report draws a bounded tree and embeds diffs only for what it draws.

The time it takes is printed (run with -s), never asserted: tests do not assert on wall-clock speed.
"""

from __future__ import annotations

import re
import time

from evolve import lineage
from evolve.report import write_report
from tests.report.bulk import build


def test_ten_thousand_candidates_render_a_bounded_lineage(tmp_path):
    url, cid = build(tmp_path / "bulk.db", 10_000)
    db = lineage.open_db(url, create=False, readonly=True)
    try:
        best = lineage.top(db, cid, 1)[0].id
        ancestors = len(lineage.ancestry(db, cid, best))
        t = time.perf_counter()
        files = write_report(db, cid, tmp_path / "report.html", max_nodes=80)
        took = time.perf_counter() - t
    finally:
        db.close()
    print(f"\n10,000-candidate report: {took:.2f} s, {files.nodes} of {files.ancestors} lineage nodes drawn")
    assert ancestors > 80 and files.ancestors >= ancestors  # the cap is what bounds the tree
    assert files.nodes == 80
    html = files.html.read_text()
    assert html.count('class="node') == 80
    diffs = re.search(r'<script type="application/json" id="diff-data">(.*?)</script>', html, re.S)
    assert diffs and diffs.group(1).count('"parent":') == 80
    assert f'data-id="{best}"' in html and "not drawn" in html
    # every candidate is in the table, the first 500 of them laid out
    table = re.search(r'<table id="candidate-table".*?<tbody>(.*?)</tbody>', html, re.S)
    assert table and table.group(1).count("<tr") == 10_000 and table.group(1).count("<tr hidden>") == 10_000 - 500
