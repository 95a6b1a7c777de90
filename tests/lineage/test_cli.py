"""The query commands end to end through `evolve.cli.main`: JSON twins, exit codes, read-only sql, export."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evolve import lineage as L
from evolve.cli import main
from tests.lineage.conftest import Built, _fresh_url, build


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["evolve", *args])
    with pytest.raises(SystemExit) as e:
        main()
    captured = capsys.readouterr()
    return int(e.value.code or 0), captured.out, captured.err


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder holding populations/demo/lineage.db with the hand-built lineage."""
    root = tmp_path_factory.mktemp("cwd")
    (root / "populations" / "demo").mkdir(parents=True)
    db = L.open_db(L.sqlite_url(root / "populations" / "demo" / "lineage.db"))
    build(db)
    db.close()
    return root


@pytest.fixture
def cwd(campaign_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(campaign_dir)
    return campaign_dir


@pytest.fixture(scope="module")
def pg_built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with _fresh_url("postgresql", request, tmp_path_factory.mktemp("pg")) as url:
        db = L.open_db(url)
        c, ids, migration = build(db)
        db.close()
        yield Built(db, url, c, ids, migration)


def test_json_twins_parse_and_agree(cwd: Path, capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "top", "demo", "-n", "3", "--json")
    assert code == 0
    top = json.loads(out)
    assert [r["fitness"] for r in top] == pytest.approx([1.60, 1.70, 1.80])
    assert top[0]["train_flops"] == 1e11 and top[0]["cpu_s"] >= 3.0 and top[0]["max_rss_mb"] == 500.0
    e = top[0]["id"]
    code, out, _ = run(capsys, monkeypatch, "status", "demo", "--json")
    status = json.loads(out)
    assert (code, status["candidates"], status["best"]["id"], len(status["island_stats"])) == (0, 10, e, 2)
    code, out, _ = run(capsys, monkeypatch, "lineage", "demo", str(e), "--json")
    lin = json.loads(out)
    assert (code, [a["depth"] for a in lin["ancestors"]]) == (0, [0, 1, 1, 2, 2])
    assert [d["depth"] for d in lin["descendants"]] == [0, 1]
    code, out, _ = run(capsys, monkeypatch, "show", "demo", str(e), "--diff", "--json")
    shown = json.loads(out)
    assert (code, shown["operator"], [f["status"] for f in shown["diff"]["files"]]) == (
        0,
        "crossover",
        ["changed", "unchanged"],
    )
    code, out, _ = run(capsys, monkeypatch, "personas", "demo", "--json")
    assert (code, sorted(r["persona"] for r in json.loads(out)["persona"])) == (0, ["curie", "darwin", "newton"])
    # A path to the campaign folder works as well as its name.
    code, out, _ = run(capsys, monkeypatch, "top", str(cwd / "populations" / "demo"), "--json")
    assert (code, len(json.loads(out))) == (0, 6)


def test_tables_render(cwd: Path, capsys, monkeypatch) -> None:
    for args in (
        ["status", "demo"],
        ["top", "demo"],
        ["lineage", "demo", "7"],
        ["show", "demo", "7", "--diff"],
        ["personas", "demo"],
    ):
        code, out, err = run(capsys, monkeypatch, *args)
        assert (code, err) == (0, "")
        assert out.strip()
    code, out, _ = run(capsys, monkeypatch, "show", "demo", "7", "--diff")
    assert "+# candidate e" in out and "train_mps.py: unchanged" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["top", "nope"], "error: no campaign 'nope'"),
        (["show", "demo", "999"], "error: no candidate 999"),
        (["lineage", "demo", "999", "--json"], "error: no candidate 999"),
        (["status", "demo", "--db", "sqlite:///nowhere/x.db"], "error: no lineage database"),
        (["export", "demo", "--format", "xml"], "error: unknown --format"),
    ],
)
def test_unknown_names_are_one_line_errors_with_exit_2(cwd: Path, capsys, monkeypatch, args, message) -> None:
    code, out, err = run(capsys, monkeypatch, *args)
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM candidates",
        "UPDATE candidates SET fitness = 0",
        "DROP TABLE candidates",
        "ATTACH DATABASE 'x.db' AS x",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA writable_schema = 1",
        "SELECT 1; DELETE FROM candidates",
        "SELECT 1; SELECT 2",
        "WITH x AS (SELECT 1) DELETE FROM candidates",
        "INSERT INTO events VALUES (1)",
    ],
)
def test_sql_refuses_writes_and_leaves_the_file_unchanged(cwd: Path, capsys, monkeypatch, statement) -> None:
    path = cwd / "populations" / "demo" / "lineage.db"
    before = path.read_bytes()
    code, out, err = run(capsys, monkeypatch, "sql", "demo", statement)
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and err.count("\n") == 1
    assert ("read-only" in err) or ("one statement" in err)
    assert path.read_bytes() == before


def test_sql_reads(cwd: Path, capsys, monkeypatch) -> None:
    code, out, _ = run(
        capsys,
        monkeypatch,
        "sql",
        "demo",
        "SELECT status, count(*) AS n FROM candidates GROUP BY status ORDER BY status;",
        "--json",
    )
    assert code == 0
    assert json.loads(out) == {
        "columns": ["status", "n"],
        "truncated": False,
        "rows": [["crashed", 1], ["ok", 6], ["rejected", 1], ["running", 1], ["timeout", 1]],
    }
    code, out, _ = run(capsys, monkeypatch, "sql", "demo", "SELECT 'delete; drop' AS s -- update")
    assert code == 0 and "delete; drop" in out  # words inside literals and comments are not statements
    code, _, err = run(capsys, monkeypatch, "sql", "demo", "SELECT nope FROM candidates")
    assert code == 2 and err.startswith("error: SQL error:")


def test_the_readonly_connection_refuses_writes_even_past_the_check(cwd: Path) -> None:
    db = L.open_db(L.sqlite_url(cwd / "populations" / "demo" / "lineage.db"), create=False, readonly=True)
    try:
        with db.engine.connect() as conn, pytest.raises(Exception, match="readonly|read-only"):
            conn.exec_driver_sql("DELETE FROM events")
    finally:
        db.close()


def test_export_formats_to_stdout_and_atomically_to_a_file(cwd: Path, capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, "export", "demo", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 10 and rows[0]["operator"] == "seed"
    target = cwd / "candidates.jsonl"
    code, out, _ = run(capsys, monkeypatch, "export", "demo", "--format", "jsonl", "--out", str(target))
    assert (code, out) == (0, "")
    assert [json.loads(line)["status"] for line in target.read_text().splitlines()].count("ok") == 6
    code, _, _ = run(
        capsys,
        monkeypatch,
        "export",
        "demo",
        "--format",
        "json",
        "--table",
        "events",
        "--out",
        str(cwd / "events.json"),
    )
    assert [e["kind"] for e in json.loads((cwd / "events.json").read_text())] == ["launch", "migration"]
    assert not list(cwd.glob(".*.tmp"))  # no temp file left behind


def test_bad_database_files_exit_2_unchanged(cwd: Path, capsys, monkeypatch) -> None:
    bad = cwd / "populations" / "bad"
    bad.mkdir(exist_ok=True)
    good = (cwd / "populations" / "demo" / "lineage.db").read_bytes()
    (bad / "lineage.db").write_bytes(good[: len(good) // 3])
    code, out, err = run(capsys, monkeypatch, "status", "bad")
    assert (code, out) == (2, "") and "truncated" in err
    assert (bad / "lineage.db").read_bytes() == good[: len(good) // 3]
    future = cwd / "populations" / "future"
    future.mkdir(exist_ok=True)
    (future / "lineage.db").write_bytes(good)
    with sqlite3.connect(future / "lineage.db") as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffff'")
    con.close()
    before = (future / "lineage.db").read_bytes()
    code, out, err = run(capsys, monkeypatch, "top", "future", "--json")
    assert (code, out) == (2, "") and "newer than this program" in err
    assert (future / "lineage.db").read_bytes() == before


def test_console_script_prints_one_line_and_exits_2(cwd: Path) -> None:
    evolve = Path(sys.executable).with_name("evolve")
    cmd = [str(evolve)] if evolve.exists() else [sys.executable, "-c", "from evolve.cli import main; main()"]
    r = subprocess.run([*cmd, "lineage", "demo", "424242"], capture_output=True, text=True, cwd=cwd)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", "error: no candidate 424242 in this campaign\n")


def test_commands_on_postgresql_via_db_url(pg_built: Built, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no populations/ folder here: --db names the database
    code, out, _ = run(capsys, monkeypatch, "top", "demo", "--db", pg_built.url, "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)][:2] == [pg_built.ids["e"], pg_built.ids["d"]]
    code, out, _ = run(
        capsys, monkeypatch, "sql", "demo", "SELECT count(*) AS n FROM memberships", "--db", pg_built.url, "--json"
    )
    assert code == 0 and json.loads(out)["rows"] == [[11]]
    code, _, err = run(capsys, monkeypatch, "status", "other", "--db", pg_built.url)
    assert code == 2 and err.startswith("error: no campaign 'other'")
    db = L.open_db(pg_built.url, create=False, readonly=True)
    try:
        with db.engine.connect() as conn, pytest.raises(Exception, match="read-only transaction"):
            conn.exec_driver_sql("DELETE FROM events")
    finally:
        db.close()


def test_text_in_square_brackets_prints_as_it_is(capsys) -> None:
    """Summaries ("[rmsnorm] add RMSNorm"), reasons and paths are data: Rich markup would drop the brackets,
    or raise on a stray "[/]"."""
    from evolve.cli.render import out, print_fields, print_table

    print_table([{"summary": "[rmsnorm] add RMSNorm"}], ["summary"])
    print_fields({"reason": "listed in [frozen] names; closing [/] tag"})
    out.print("[bold]kept[/bold]")
    shown = capsys.readouterr().out
    assert "[rmsnorm] add RMSNorm" in shown and "[frozen] names" in shown and "[/]" in shown
    assert "[bold]kept[/bold]" in shown
