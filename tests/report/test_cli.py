"""`evolve report` as a user runs it: files, printed path, --json twin, --out, one-line errors."""

from __future__ import annotations

import json
import re
import shutil

from tests.helpers import run_cli
from tests.report.pngs import png_size

PLOTS = ("best_loss", "island_loss", "personas", "failures", "migrations", "llm_usage", "tradeoff")


def test_report_writes_html_and_pngs_beside_it_and_prints_the_path(campaign):
    for old in campaign.folder.glob("report*"):
        old.unlink()
    r = run_cli("report", campaign.name, cwd=campaign.root)
    assert r.returncode == 0, r.stderr
    html = campaign.folder / "report.html"
    assert r.stdout.strip().splitlines()[-1] == str(html.relative_to(campaign.root))
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and f"Campaign {campaign.name}" in text
    for name in PLOTS:
        png = (campaign.folder / f"report_{name}.png").read_bytes()
        width, height = png_size(png)
        assert width >= 600 and height >= 250 and len(png) > 8_000, name
        assert f'id="plot-{name}"' in text  # and embedded, so the HTML stands alone
    assert not list(campaign.folder.glob(".report*"))  # temporary files were renamed away
    assert "Loss against training compute" in text and "Cheapest within the seed&#x27;s loss" in text
    # nothing external: no stylesheet, script or image is fetched from anywhere
    assert not re.search(r'(src|href)="(?!data:|#)', text)


def test_json_twin_explicit_out_and_database_url(campaign, tmp_path):
    out = tmp_path / "mine.html"
    r = run_cli("report", campaign.name, "--db", campaign.url, "--out", str(out), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["html"] == str(out) and out.is_file()
    assert sorted(result["pngs"]) == sorted(str(tmp_path / f"mine_{p}.png") for p in PLOTS)
    assert all(png_size(open(p, "rb").read())[0] > 0 for p in result["pngs"])


def test_unknown_campaign_and_bad_out_are_one_line_errors(campaign, tmp_path):
    r = run_cli("report", "nope", cwd=campaign.root)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no campaign 'nope'" in r.stderr
    r = run_cli("report", campaign.name, "--out", str(tmp_path / "missing" / "r.html"), cwd=campaign.root)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr


def test_a_renamed_campaign_folder_still_reports(campaign, tmp_path):
    moved = tmp_path / "renamed"
    shutil.copytree(campaign.folder, moved)
    r = run_cli("report", str(moved), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (moved / "report.html").is_file()
