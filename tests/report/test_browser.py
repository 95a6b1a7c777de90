"""The report in a real headless Chromium: plots and tree render, a click shows a diff, no network at all."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from evolve import lineage
from evolve.report import write_report
from evolve.report.plots import PLOTS
from tests.report.browser import chromium, file_url, requested_urls, require_chromium
from tests.report.pngs import png_size


@pytest.fixture(scope="module")
def page(campaign, tmp_path_factory):
    """The fixture campaign's report, loaded once in a fresh browser: (driver, report path, tree nodes)."""
    require_chromium()
    out = tmp_path_factory.mktemp("browser") / "report.html"
    db = lineage.open_db(campaign.url, create=False, readonly=True)
    try:
        files = write_report(db, lineage.campaign_id(db, campaign.name), out)
    finally:
        db.close()
    with chromium() as driver:
        driver.get(file_url(out))
        urls = requested_urls(driver, file_url(out))
        yield driver, files, urls


def _pixels(png: bytes) -> list[tuple[int, ...]]:
    from matplotlib.image import imread  # decodes PNG with Pillow, which matplotlib requires

    img = imread(io.BytesIO(png), format="png")
    return [tuple(int(255 * c) for c in px[:3]) for rowpx in img for px in rowpx]


def _hex(rgb: tuple[int, ...]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def test_the_page_makes_no_network_request(page):
    driver, files, urls = page
    assert file_url(files.html) in urls, f"the Network log did not even see the page itself: {urls[:5]}"
    external = [u for u in urls if not u.startswith(("file:", "data:"))]
    assert external == []
    # and the page's own record of what it loaded agrees
    names = driver.execute_script("return performance.getEntries().map(e => e.name)")
    assert [n for n in names if n.startswith(("http:", "https:", "ws:", "wss:"))] == []
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []  # no script error, no blocked resource


def test_plots_are_decoded_images_and_the_tree_is_drawn(page):
    driver, files, _ = page
    plots = driver.execute_script(
        "return [...document.querySelectorAll('img.plot')].map(i => [i.id, i.complete, i.naturalWidth,"
        " i.naturalHeight])"
    )
    # every plot the report draws is on the page, once: a new plot cannot go missing from the HTML
    assert sorted(plot_id for plot_id, *_ in plots) == sorted(f"plot-{name}" for name in PLOTS)
    assert len(files.pngs) == len(PLOTS)
    for plot_id, complete, width, height in plots:
        assert complete and (width, height) == png_size(
            files.html.with_name(f"report_{plot_id.removeprefix('plot-')}.png").read_bytes()
        ), plot_id
    nodes = driver.find_elements("css selector", "#tree .node")
    assert len(nodes) == files.nodes > 5
    box = driver.execute_script("const b = document.getElementById('tree-svg').getBBox(); return [b.width, b.height]")
    assert box[0] > 100 and box[1] > 100
    # The screenshot shows it: the tree's pixels hold the persona colours of its nodes, the plot is not blank.
    tree = driver.find_element("id", "tree")
    driver.execute_script("arguments[0].scrollIntoView()", tree)
    seen = {_hex(p) for p in _pixels(tree.screenshot_as_png)}
    colours = {driver.execute_script("return arguments[0].querySelector('circle').getAttribute('fill')", n)
               for n in nodes}
    assert colours <= seen, f"node colours not painted: {colours - seen}"
    plot = driver.find_element("id", "plot-best_loss")
    driver.execute_script("arguments[0].scrollIntoView()", plot)
    assert len(set(_pixels(plot.screenshot_as_png))) > 20


def test_clicking_a_node_shows_its_diff_against_its_parent(page, campaign):
    driver, _, _ = page
    diffs = json.loads(driver.find_element("id", "diff-data").get_attribute("textContent"))
    nodes = driver.find_elements("css selector", "#tree .node")
    changed = [n for n in nodes if any(f["status"] == "changed" for f in diffs[n.get_attribute("data-id")]["files"])]
    assert len(changed) >= 2
    panel = driver.find_element("id", "diff")
    assert "+++" not in panel.text  # nothing shown before a click
    for node in changed[:2]:
        cid = node.get_attribute("data-id")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
        node.click()
        assert panel.get_attribute("data-shown") == cid
        parent = diffs[cid]["parent"]
        assert f"+++ {cid}/" in panel.text and f"--- {parent}/" in panel.text
        assert panel.text.startswith(f"#{cid}:")
        assert "selected" in node.get_attribute("class")
        # the lines are the real unified diff lineage computes, coloured by kind
        added = driver.find_elements("css selector", "#diff pre .add")
        assert added and all(a.text.startswith("+") for a in added)


def test_a_seed_node_says_it_has_nothing_to_compare(page):
    driver, _, _ = page
    seed = driver.execute_script(
        "return [...document.querySelectorAll('#tree .node')].find(g => g.dataset.persona === '')"
    )
    assert seed is not None
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", seed)
    seed.click()
    assert "nothing to compare" in driver.find_element("id", "diff").text


def test_missing_browser_message_names_the_packages(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_chromium()


def test_report_path_is_not_a_folder(campaign, tmp_path: Path):
    from scoring.errors import InputError

    db = lineage.open_db(campaign.url, create=False, readonly=True)
    try:
        with pytest.raises(InputError, match="is a folder"):
            write_report(db, lineage.campaign_id(db, campaign.name), tmp_path)
    finally:
        db.close()
