"""Issue #29, a newcomer's first hour, in a real headless Chromium: the header's gain on the seed reads as the
terminal's summary prints it, one sign convention and one colour per persona across the page, every candidate
in a sortable table, and no cost shown when no LLM call had a price.

Three reports: the session's fixture campaign (offline operator; its best beats the seed by several times the
seed's spread) and a small hand-built one (tests/report/small.py; a gain of a tenth of the spread), with its
LLM calls unpriced and priced.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from evolve import lineage
from evolve.campaign import Outcome, Stop
from evolve.report import write_report
from evolve.report.plots import COST
from evolve.summary import summarize
from tests.report import small
from tests.report.browser import chromium, file_url, require_chromium

PRICE = 0.0123  # per call of the priced small campaign


def _pixels(png: bytes) -> set[str]:
    from matplotlib.image import imread

    img = imread(io.BytesIO(png), format="png")
    return {"#" + "".join(f"{int(255 * c):02x}" for c in px[:3]) for rowpx in img for px in rowpx}


def _hex(css: str) -> str:
    """'rgb(31, 119, 180)' or '#1f77b4' -> '#1f77b4'."""
    if css.startswith("#"):
        return css.lower()
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _terminal_gain(url: str, name: str, folder: Path) -> str:
    """What the terminal's end-of-run summary (evolve launch/resume) prints after "improvement over the seed:
    val ", for the campaign's best and seed as its Outcome names them."""
    from evolve.cli.campaign import print_summary
    from evolve.cli.render import out

    db = lineage.open_db(url, create=False, readonly=True)
    try:
        cid = lineage.campaign_id(db, name)
        best = lineage.top(db, cid, 1)[0]
        (seed,) = [c for c in lineage.export_rows(db, cid, "candidates")[1] if c["operator"] == "seed"]
        outcome = Outcome("finished", Stop.BUDGET, "budget spent", 0, best.id, best.fitness, seed["id"],
                          seed["fitness"])
        s = summarize(db, cid, name, folder, outcome)
    finally:
        db.close()
    with out.capture() as captured:
        print_summary(s)
    m = re.search(r"^improvement over the seed: val (.*), test \S+$", captured.get(), re.M)
    assert m, captured.get()
    return m.group(1)


def _report(url: str, name: str, out: Path) -> Path:
    out.parent.mkdir()
    db = lineage.open_db(url, create=False, readonly=True)
    try:
        write_report(db, lineage.campaign_id(db, name), out)
    finally:
        db.close()
    return out


@pytest.fixture(scope="module")
def reports(campaign, tmp_path_factory) -> dict[str, tuple[Path, str, str]]:
    """name -> (report.html, database url, campaign name)."""
    require_chromium()
    tmp = tmp_path_factory.mktemp("newcomer")
    built = {
        "fixture": (campaign.url, campaign.name),
        "unpriced": (small.build(tmp / "unpriced.db").url, "small"),
        "priced": (small.build(tmp / "priced.db", cost_usd=PRICE).url, "small"),
    }
    return {k: (_report(url, name, tmp / k / "report.html"), url, name) for k, (url, name) in built.items()}


@pytest.fixture(scope="module")
def driver(reports):
    with chromium() as d:
        yield d


def _open(driver, reports, which: str) -> None:
    driver.get(file_url(reports[which][0]))


def _fact(driver, name: str) -> str | None:
    """The value of the header fact `name` (its label is the fact's first child)."""
    return driver.execute_script(
        "const d = document.querySelector(`#facts div[data-fact='${arguments[0]}']`);"
        "return d ? d.lastChild.textContent : null", name)


def _column(driver, header: str) -> list[str]:
    return driver.execute_script(
        "const t = document.getElementById('candidate-table');"
        "const k = [...t.tHead.rows[0].cells].findIndex(th => th.textContent === arguments[0]);"
        "return [...t.tBodies[0].rows].map(r => r.cells[k].textContent)", header)


def _click_header(driver, header: str) -> None:
    th = driver.execute_script(
        "return [...document.querySelectorAll('#candidate-table thead th')]"
        ".find(th => th.textContent === arguments[0])", header)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", th)
    th.click()


@pytest.mark.parametrize("which", ["fixture", "unpriced"])
def test_the_gain_on_the_seed_reads_as_the_terminal_prints_it(driver, reports, tmp_path, which):
    path, url, name = reports[which]
    terminal = _terminal_gain(url, name, tmp_path)
    times = float(re.search(r", (-?[\d.]+)x the seed's spread$", terminal).group(1))
    # the fixture's best is well beyond the seed's spread, the small campaign's well within it
    assert times > 1 if which == "fixture" else times < 1
    _open(driver, reports, which)
    assert _fact(driver, "gain on the seed") == terminal
    assert "noise band)" not in driver.find_element("id", "facts").text


def test_one_sign_convention_positive_is_better(driver, reports):
    _open(driver, reports, "fixture")
    assert "positive is better" in driver.find_element("id", "convention").text
    assert _fact(driver, "gain on the seed").startswith("+")  # the best is below the seed's loss
    table = dict(zip(_column(driver, "id"), _column(driver, "gain on parent"), strict=True))
    labels = driver.execute_script(
        "return [...document.querySelectorAll('#tree .node')].map(g => [g.dataset.id,"
        " g.querySelector('text.change').textContent])")
    gains = [(i, label.removeprefix("gain ")) for i, label in labels if label.startswith("gain ")]
    assert len(gains) >= 5
    for i, gain in gains:  # the tree labels a child as the table does: its first parent's loss minus its own
        assert table[f"#{i}"] == gain, i
    assert any(g.startswith("+") for _, g in gains)
    # and the leaderboard's best gain per persona is the best of its children's gains in the table
    personas = dict(zip(_column(driver, "id"), _column(driver, "persona"), strict=True))
    board = driver.execute_script(
        "const t = document.querySelector('#leaderboard table');"
        "const k = [...t.tHead.rows[0].cells].findIndex(th => th.textContent === 'best gain');"
        "return [...t.tBodies[0].rows].map(r => [r.cells[0].textContent, r.cells[k].textContent])")
    for persona, best in board:
        mine = [float(g) for i, g in table.items() if personas[i] == persona and g != "-"]
        assert best == (f"{max(mine):+.4f}" if mine else "-"), persona


@pytest.mark.parametrize("which", ["unpriced", "fixture"])
def test_a_persona_has_one_colour_in_every_section(driver, reports, which):
    _open(driver, reports, which)
    seen = driver.execute_script(
        "const out = [...document.querySelectorAll('#tree .node')].map(g => ['tree', g.dataset.persona,"
        " g.querySelector('circle').getAttribute('fill')]);"
        "document.querySelectorAll('.swatch[data-persona]').forEach(s => out.push([s.closest('#leaderboard') ?"
        " 'leaderboard' : s.closest('#candidate-table') ? 'table' : s.closest('.legend') ? 'legend' : 'other',"
        " s.dataset.persona, getComputedStyle(s).backgroundColor]));"
        "return out")
    colours: dict[str, set[str]] = {}
    sections: dict[str, set[str]] = {}
    for section, persona, colour in seen:
        colours.setdefault(persona, set()).add(_hex(colour))
        sections.setdefault(section, set()).add(persona)
    assert set(sections) == {"tree", "legend", "leaderboard", "table"}
    assert {p for p, cs in colours.items() if len(cs) > 1} == set(), colours
    named = {p for p in colours if p}
    assert len(named) >= 3 and sections["leaderboard"] >= named and sections["table"] >= named
    if which == "unpriced":  # a colour per section's own personas would differ here: euler is in no lineage
        assert sections["tree"] - {""} == {"galileo", "newton"} and "euler" in named
    # the persona plot's bars (those longer than 0%) are painted in the same colours
    improving = driver.execute_script(
        "const t = document.querySelector('#leaderboard table');"
        "const k = [...t.tHead.rows[0].cells].findIndex(th => th.textContent === 'improving');"
        "return [...t.tBodies[0].rows].filter(r => r.cells[k].textContent !== '0%').map(r => r.cells[0].textContent)")
    assert len(improving) >= 2
    plot = _pixels(reports[which][0].with_name("report_personas.png").read_bytes())
    assert {next(iter(colours[p])) for p in improving} <= plot


def test_every_candidate_is_in_the_table_and_any_column_sorts_it(driver, reports):
    path, url, name = reports["fixture"]
    db = lineage.open_db(url, create=False, readonly=True)
    try:
        ids = [c["id"] for c in lineage.export_rows(db, lineage.campaign_id(db, name), "candidates")[1]]
    finally:
        db.close()
    _open(driver, reports, "fixture")
    assert len(ids) > 20 and _column(driver, "id") == [f"#{i}" for i in sorted(ids)]
    assert f"Every candidate ({len(ids)})" in driver.find_element("id", "candidates").text

    def numbers(header: str) -> list[float | None]:
        return [None if v == "-" else float(v.lstrip("#")) for v in _column(driver, header)]

    _click_header(driver, "fitness")
    fit = numbers("fitness")
    known = [v for v in fit if v is not None]
    assert None in fit and fit == known + [None] * (len(fit) - len(known))  # blanks last
    assert known == sorted(known) and len(set(known)) > 5
    _click_header(driver, "fitness")
    fit = numbers("fitness")
    assert fit[: len(known)] == sorted(known, reverse=True) and fit[len(known):] == [None] * (len(fit) - len(known))
    _click_header(driver, "id")  # by number: #9 before #10
    assert numbers("id") == sorted(float(i) for i in ids)
    _click_header(driver, "persona")
    personas = [p.lower() for p in _column(driver, "persona")]
    assert personas == sorted(personas)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_no_cost_panel_for_an_unpriced_model(driver, reports):
    for which in ("unpriced", "fixture"):  # the fixture's operator is the offline one: unpriced too
        _open(driver, reports, which)
        body = driver.find_element("tag name", "body").text
        assert "$" not in body, which
        assert driver.find_elements("id", "llm-cost") == [] and driver.find_elements("id", "llm-unpriced")
        assert _fact(driver, "LLM cost") is None
        png = reports[which][0].with_name("report_llm_usage.png").read_bytes()
        assert COST not in _pixels(png), f"{which}: the cost line is drawn"
    _open(driver, reports, "priced")
    db = lineage.open_db(reports["priced"][1], create=False, readonly=True)
    try:
        calls = lineage.status_summary(db, lineage.campaign_id(db, "small")).llm_calls
    finally:
        db.close()
    assert calls == 4 and _fact(driver, "LLM cost") == f"${calls * PRICE:.4f}"
    assert f"${calls * PRICE:.4f}" in driver.find_element("id", "llm-cost").text
    assert driver.find_elements("id", "llm-unpriced") == []
    headers = driver.execute_script("return [...document.querySelectorAll('#leaderboard th')].map(t => t.textContent)")
    assert headers[-1] == "cost"
    assert COST in _pixels(reports["priced"][0].with_name("report_llm_usage.png").read_bytes())


def test_a_long_table_displays_its_first_rows_in_the_sorted_order_and_shows_all_on_request(driver, tmp_path):
    from evolve.report.page import ROWS_SHOWN
    from tests.report.bulk import build

    n = ROWS_SHOWN + 700
    url, cid = build(tmp_path / "bulk.db", n)
    out = _report(url, "bulk", tmp_path / "bulk" / "report.html")
    driver.get(file_url(out))

    def displayed() -> list[str]:
        return driver.execute_script(
            "return [...document.querySelectorAll('#candidate-table tbody tr')].filter(r => r.offsetParent)"
            ".map(r => r.cells[7].textContent)")

    assert len(_column(driver, "id")) == n and len(displayed()) == ROWS_SHOWN  # all in the page, 500 laid out
    _click_header(driver, "fitness")
    everything = sorted(float(v) for v in _column(driver, "fitness") if v != "-")
    assert [float(v) for v in displayed()] == everything[:ROWS_SHOWN]  # the best 500 of all of them
    driver.find_element("css selector", "button[data-show-all]").click()
    assert len(displayed()) == n and f"Shown: all {n:,}." in driver.find_element("id", "candidates-shown").text
    _click_header(driver, "fitness")  # and a sort after that keeps them all
    assert len(displayed()) == n
