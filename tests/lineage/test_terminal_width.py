"""Tables in a real pseudo-terminal fit its width: no line over it, one line per row (so no number is
ever split across lines), headers whole or broken after an underscore; `top` says what each candidate
changed. Piped output keeps every column.

The query commands run in one child process whose stdout is a pseudo-terminal (COLUMNS=80, TERM set),
against the hand-built lineage of conftest.py plus one candidate with a long summary and large numbers.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from evolve import lineage as L
from evolve.cli import main, render
from evolve.cli.render import SHORT, fmt
from scoring.result import ScoreResult
from tests.lineage.conftest import TRAIN_PY, build, model_py

SUMMARY = ("[rmsnorm] replace LayerNorm with RMSNorm in every block, and scale each residual branch by "
           "1/sqrt(2 * n_layer) so deeper models start closer to the identity")
SQL = "SELECT * FROM evaluations ORDER BY id"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
NUMBER = re.compile(r"-?\d+(\.\d+)?(e[+-]\d+)?")
END = "=== end of command, exit code "

# Runs each command in turn in this process (its stdout is the terminal), at the width given.
RUNNER = textwrap.dedent("""
    import json, sys
    from evolve.cli import main, render
    for width, args in json.loads(sys.argv[1]):
        render.out.width = width
        sys.argv = ["evolve", *args]
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code or 0
        sys.stdout.flush()
        sys.stdout.write(MARK + str(code) + "\\n")
        sys.stdout.flush()
""").replace("MARK", repr(END))


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("cwd")
    (root / "populations" / "demo").mkdir(parents=True)
    db = L.open_db(L.sqlite_url(root / "populations" / "demo" / "lineage.db"))
    c, ids, _ = build(db)
    # The best candidate: a long summary (as an LLM reply states its change) and numbers in the billions.
    k = L.add_candidate(db, c, island=1, files={"model.py": model_py("k"), "train_mps.py": TRAIN_PY},
                        operator="mutate", persona="darwin", model="offline", parent_id=ids["e"],
                        code_hash="hash-k", summary=SUMMARY)
    for seed in (0, 1):
        with L.transaction(db) as tx:
            tx.evaluation(k, ScoreResult(
                status="ok", reason="", seed=seed, best_vloss=1.4 + seed / 100, returned_vloss=1.4, test_loss=1.45,
                steps=123456, elapsed_s=987.654321, device="cuda:0", cpu_s=12345.678, max_rss_mb=1536.25,
                step_flops=1.0596e6, train_flops=1.308e11))
    L.finish_candidate(db, k, "ok")
    db.close()
    yield root


def _in_terminal(cwd: Path, runs: list[tuple[int, list[str]]], columns: int = 80) -> list[str]:
    """Each run's output as the terminal received it (colours removed), from one child process."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    env.update(COLUMNS=str(columns), LINES="50", TERM="xterm-256color")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(runs)], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        stderr = proc.communicate()[1].decode()
    assert proc.returncode == 0, stderr
    text = ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")
    pieces = text.split(END)
    assert len(pieces) == len(runs) + 1, text
    outputs = []
    for i, piece in enumerate(pieces[:-1]):
        if i:  # drop the previous marker's exit code line
            code, _, piece = piece.partition("\n")
            assert code == "0", (runs[i - 1], code)
        outputs.append(piece)
    assert pieces[-1].strip() == "0", (runs[-1], pieces[-1])
    return outputs


def _run_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setattr(sys, "argv", ["evolve", *args, "--json"])
    with pytest.raises(SystemExit) as e:
        main()
    assert not e.value.code
    return json.loads(capsys.readouterr().out)


def _tables(text: str) -> list[tuple[list[str], list[str]]]:
    """The tables with a header row (print_table's), as (header lines, body lines)."""
    found, current = [], None
    for line in text.splitlines():
        if line.startswith("┏"):
            current = ([], [])
        elif current is not None and line.startswith("┃"):
            current[0].append(line)
        elif current is not None and line.startswith("│"):
            current[1].append(line)
        elif current is not None and line.startswith("└"):
            found.append(current)
            current = None
    return found


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line[1:-1].split(line[0])]


def _numbers(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_numbers(v) for v in value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {fmt(value)}
    return set()


def _keys(rows: list[Any]) -> set[str]:
    return {k for r in rows for k in r}


@pytest.fixture(scope="module")
def shown(campaign_dir: Path) -> dict[str, str]:
    """Every command's terminal output at 80 columns (and `top` at 60 and 200 as well)."""
    runs = {
        "top": ["top", "demo"],
        "show": ["show", "demo", "11"],
        "status": ["status", "demo"],
        "lineage": ["lineage", "demo", "11"],
        "personas": ["personas", "demo"],
        "sql": ["sql", "demo", SQL],
        "sql_text": ["sql", "demo", "SELECT id, summary, reason, code_hash FROM candidates ORDER BY id"],
        "pareto": ["top", "demo", "--pareto"],
    }
    widths = {name: 80 for name in runs}
    runs.update({"top_60": ["top", "demo"], "top_200": ["top", "demo"]})
    widths.update(top_60=60, top_200=200)
    outputs = _in_terminal(campaign_dir, [(widths[n], a) for n, a in runs.items()])
    return dict(zip(runs, outputs, strict=True))


def test_each_query_table_fits_80_columns_with_numbers_whole(
    shown: dict[str, str], campaign_dir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(campaign_dir)
    top = _run_json(capsys, monkeypatch, "top", "demo")
    assert top[0]["id"] == 11 and top[0]["summary"] == SUMMARY  # the candidate the fixture added
    shown_c = _run_json(capsys, monkeypatch, "show", "demo", "11")
    status = _run_json(capsys, monkeypatch, "status", "demo")
    lin = _run_json(capsys, monkeypatch, "lineage", "demo", "11")
    personas = _run_json(capsys, monkeypatch, "personas", "demo")
    sql = _run_json(capsys, monkeypatch, "sql", "demo", SQL)
    pareto = _run_json(capsys, monkeypatch, "top", "demo", "--pareto")
    short = set(SHORT.values())
    expected = {  # the JSON twin, the headers allowed and the rows of each table printed
        "top": (top, _keys(top) | short, [len(top)]),
        "show": (shown_c, _keys(shown_c["evaluations"]) | short, [len(shown_c["evaluations"])]),
        "status": (status, _keys(status["island_stats"]) | short, [len(status["island_stats"])]),
        "lineage": (lin, _keys(lin["ancestors"]) | short, [len(lin["ancestors"]), len(lin["descendants"])]),
        "personas": (personas, _keys(personas["persona"] + personas["operator"]) | short,
                     [len(personas["persona"]), len(personas["operator"])]),
        "sql": (sql, set(sql["columns"]), [len(sql["rows"])]),  # a query's columns keep their names
        "pareto": (pareto, _keys(pareto) | short, [len(pareto)]),
    }
    for name, (twin, headers, rows) in expected.items():
        text = shown[name]
        too_long = [line for line in text.splitlines() if len(line) > 80]
        assert not too_long, (name, too_long)
        tables = _tables(text)
        # One line per row: a number split over two lines ("1.308e" / "+11") would make a second one.
        assert [len(body) for _, body in tables] == rows, (name, text)
        numbers = _numbers(twin)
        for head, body in tables:
            for line in body:
                for cell in _cells(line):
                    if NUMBER.fullmatch(cell):
                        assert cell in numbers, (name, cell, line)
            # A header is a column's name (or its short name), broken only after an underscore.
            columns = zip(*(_cells(line) for line in head), strict=True)
            named = ["".join(parts) for parts in columns]
            assert set(named) <= headers, (name, set(named) - headers, head)
            for parts in zip(*(_cells(line) for line in head), strict=True):
                pieces = [p for p in parts if p]
                assert all(p.endswith("_") for p in pieces[:-1]), (name, parts)
    # The large numbers are there, whole, on the line of their row.
    row = next(line for line in shown["show"].splitlines() if line.startswith("│ 0 "))
    assert "1.308e+11" in row and "1.4000" in row, shown["show"]
    assert "1.308e+11" in shown["top"] and "1.4050" in shown["top"]


def test_narrow_terminals_leave_columns_out_and_say_which(shown: dict[str, str]) -> None:
    text = shown["top"]
    assert "(not shown at this width: " in text and "--json has them" in text
    header = "".join(_cells(_tables(text)[0][0][-1]))
    assert "parent2_id" not in header and "parent2" not in header  # the first left out of a candidate table
    note = " ".join(text[text.index("(not shown"):].split())
    assert "parent2_id" in note
    assert all(len(line) <= 60 for line in shown["top_60"].splitlines()), shown["top_60"]
    wide = shown["top_200"]
    assert "not shown" not in wide and all(len(line) <= 200 for line in wide.splitlines())
    names = ["".join(p) for p in zip(*(_cells(line) for line in _tables(wide)[0][0]), strict=True)]
    assert names[:2] == ["id", "fitness"] and "summary" in names and len(names) >= 9


def test_top_says_what_each_candidate_changed(shown: dict[str, str]) -> None:
    row = next(line for line in shown["top"].splitlines() if line.startswith("│ 11 "))
    assert "[rmsnorm] replace LayerNorm" in row and row.rstrip().endswith("… │")  # cut to the terminal
    header = _tables(shown["top"])[0][0]
    assert "summary" in header[-1]
    wide = next(line for line in shown["top_200"].splitlines() if line.startswith("│ 11 "))
    assert "[rmsnorm] replace LayerNorm with RMSNorm in every block" in wide
    text_row = next(line for line in shown["sql_text"].splitlines() if line.startswith("│ 11 "))
    assert "[rmsnorm]" in text_row and "summary" in shown["sql_text"]


def test_piped_tables_keep_every_column(campaign_dir: Path, capsys, monkeypatch) -> None:
    """Not a terminal (a pipe, a file): every column, the summary whole at a width that holds it."""
    monkeypatch.chdir(campaign_dir)
    buf = io.StringIO()
    monkeypatch.setattr(render, "out", Console(file=buf, width=400, highlight=False, soft_wrap=True, markup=False))
    assert not render.out.is_terminal
    monkeypatch.setattr(sys, "argv", ["evolve", "top", "demo"])
    with pytest.raises(SystemExit) as e:
        main()
    assert not e.value.code
    text = buf.getvalue()
    assert SUMMARY in text and "not shown" not in text
    for column in ("island", "generation", "parent_id", "parent2_id", "train_flops", "cpu_s", "summary"):
        assert f" {column} " in text
