"""Bad inputs at the front door: each is one line on stderr and exit 2, never a traceback, and a database
file that is refused is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import TASK_DIR
from tests.helpers import run_cli


def _refused(r, *fragments: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr + r.stdout[-500:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    for f in fragments:
        assert f in lines[0]


def _persona(folder: Path, name: str, text: bytes) -> Path:
    folder.mkdir()
    (folder / name).write_bytes(text)
    return folder


CONFIGS = {
    "not TOML": (b"budget = = [", "not valid TOML"),
    "binary": (b"\x00\xff\xfe\x01", "not valid TOML"),
    "unknown key": (b"[budget]\nmax_evals = 3\nmax_evlas = 3\n", "unknown setting 'budget.max_evlas'"),
    "wrong type": (b'[budget]\nmax_evals = "ten"\n', "budget.max_evals"),
}


@pytest.mark.parametrize("case", CONFIGS)
def test_malformed_campaign_config(tmp_path, case):
    text, fragment = CONFIGS[case]
    (tmp_path / "c.toml").write_bytes(text)
    _refused(run_cli("launch", "--config", "c.toml", "--name", "x", cwd=tmp_path), fragment)
    assert not (tmp_path / "populations" / "x" / "lineage.db").exists()


def test_missing_or_folder_config(tmp_path):
    (tmp_path / "d").mkdir()
    _refused(run_cli("launch", "--config", "nope.toml", cwd=tmp_path), "not found")
    _refused(run_cli("launch", "--config", "d", cwd=tmp_path), "not found")


PERSONAS = {
    "empty file": (b"", "'name' is missing"),
    "not TOML": (b"name = [\n", "not valid TOML"),
    "no prompt": (b'name = "x"\ntitle = "X"\n', "'prompt' is missing"),
    "binary": (b"\xff\xfe\x00garbage", "not valid TOML"),
}


@pytest.mark.parametrize("case", PERSONAS)
def test_malformed_persona_file(tmp_path, case):
    text, fragment = PERSONAS[case]
    _persona(tmp_path / "p", "a.toml", text)
    r = run_cli("launch", "--personas", "p", "--name", "x", "--smoke", "--max-evals", "1", cwd=tmp_path)
    _refused(r, "persona file", fragment)
    assert not (tmp_path / "populations" / "x" / "lineage.db").exists()


def test_two_personas_with_one_name(tmp_path):
    newton = (TASK_DIR.parent.parent / "personas" / "000_newton.toml").read_bytes()
    _persona(tmp_path / "p", "a.toml", newton)
    (tmp_path / "p" / "b.toml").write_bytes(newton)
    _refused(run_cli("launch", "--personas", "p", "--name", "x", cwd=tmp_path), "already used")


def _task_copy(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "t"
    shutil.copytree(TASK_DIR, folder)
    edit(folder)
    return folder


TASKS = {
    "no task.toml": (lambda f: (f / "task.toml").unlink(), "no task.toml"),
    "task.toml not TOML": (lambda f: (f / "task.toml").write_text("name = \n"), "not valid TOML"),
    "no [frozen] table": (lambda f: (f / "task.toml").write_text(
        (f / "task.toml").read_text().split("[frozen]")[0]), "missing key 'frozen'"),
    "frozen markers gone": (lambda f: (f / "train_mps.py").write_text(
        (f / "train_mps.py").read_text().replace("FROZEN BEGIN", "FROZEN")), "frozen block markers"),
    "seed does not parse": (lambda f: (f / "model.py").write_text(
        (f / "model.py").read_text() + "\ndef broken(:\n"), "seed model.py line"),
    "seed not UTF-8": (lambda f: (f / "model.py").write_bytes(b"\xff\xfe# x\n"), "not UTF-8"),
    "editable file missing": (lambda f: (f / "model.py").unlink(), "'model.py' is missing"),
}


@pytest.mark.parametrize("case", TASKS)
def test_malformed_task_folder(tmp_path, case):
    edit, fragment = TASKS[case]
    _task_copy(tmp_path, edit)
    r = run_cli("launch", "--task", "t", "--name", "x", "--smoke", "--max-evals", "1", cwd=tmp_path)
    _refused(r, fragment)
    assert not (tmp_path / "populations" / "x" / "lineage.db").exists()
    assert run_cli("score", "t", "--smoke", cwd=tmp_path).returncode == 2


URLS = {
    "not a URL": ("notaurl", "bad database URL"),
    "unsupported backend": ("mysql://u@h/db", "unsupported database 'mysql'"),
    "nothing listening": ("postgresql://u:pw@127.0.0.1:1/x", "cannot open database"),
    "folder missing": ("sqlite:////nonexistent-evolve/dir/x.db", "does not exist"),
    "in-memory sqlite": ("sqlite://", "names no file"),
    "empty sqlite path": ("sqlite:///", "names no file"),
}


@pytest.mark.parametrize("case", URLS)
def test_bad_db_url(tmp_path, case):
    url, fragment = URLS[case]
    r = run_cli("launch", "--db", url, "--name", "x", "--smoke", "--max-evals", "1", cwd=tmp_path, timeout=60)
    _refused(r, fragment)
    assert "pw@" not in r.stderr  # a password in the URL is never echoed
    _refused(run_cli("status", "x", "--db", url, cwd=tmp_path, timeout=60))


def _lineage_db(folder: Path) -> Path:
    from evolve.lineage import record
    from evolve.lineage.db import open_db, sqlite_url

    folder.mkdir(parents=True)
    db = open_db(sqlite_url(folder / "lineage.db"))
    record.create_campaign(db, folder.name, task_name="t", task_path=str(TASK_DIR), config={}, seed=0, islands=1)
    db.engine.dispose()
    return folder / "lineage.db"


def _truncate(p: Path) -> None:
    with p.open("r+b") as f:
        f.truncate(p.stat().st_size // 2)


def _scramble(p: Path) -> None:
    b = bytearray(p.read_bytes())
    for i in range(0, len(b), 61):
        b[i] ^= 0x5A
    p.write_bytes(b)


def _newer(p: Path) -> None:
    with sqlite3.connect(p) as con:
        con.execute("update alembic_version set version_num = 'ffff9999'")
    con.close()


def _foreign(p: Path) -> None:
    p.unlink()
    with sqlite3.connect(p) as con:
        con.execute("create table notes (x)")
    con.close()


DBS = {
    "truncated": (_truncate, "truncated"),
    "scrambled": (_scramble, "not a SQLite database"),
    "zero bytes": (lambda p: p.write_bytes(b""), "not a SQLite database"),
    "text file": (lambda p: p.write_text("hello\n"), "not a SQLite database"),
    "newer schema": (_newer, "newer than this program knows"),
    "another program's database": (_foreign, "not a lineage database"),
}


@pytest.mark.parametrize("case", DBS)
def test_bad_database_file_is_refused_untouched(tmp_path, case):
    damage, fragment = DBS[case]
    path = _lineage_db(tmp_path / "populations" / "camp")
    damage(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for args in (["resume", "camp"], ["status", "camp"], ["top", "camp", "--json"], ["sql", "camp", "select 1"]):
        _refused(run_cli(*args, cwd=tmp_path, timeout=120), fragment)
    _refused(run_cli("launch", "--name", "camp", cwd=tmp_path), "already exists")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["lineage.db"]  # no -wal/-shm made beside it


def test_postgres_scheme_is_read_as_postgresql(tmp_path):
    """`postgres://` (what most hosts put in DATABASE_URL) is PostgreSQL, with or without a driver."""
    from evolve.lineage.db import parse_url

    assert parse_url("postgres://u:pw@h/db").drivername == "postgresql"
    assert parse_url("postgres+psycopg://u@h:5432/db").drivername == "postgresql+psycopg"
    url = "postgres://u:pw@127.0.0.1:1/x"  # accepted, then nothing answers there
    r = run_cli("launch", "--db", url, "--name", "x", "--smoke", "--max-evals", "1", cwd=tmp_path, timeout=60)
    _refused(r, "cannot open database postgresql://u:***@127.0.0.1:1/x")
    assert "pw@" not in r.stderr
    _refused(run_cli("status", "x", "--db", url, cwd=tmp_path, timeout=60), "cannot open database")


@pytest.mark.parametrize(("text", "fragment"), [
    (b"[budget]\nmax_eval = 3\n", "unknown setting 'budget.max_eval' (did you mean 'budget.max_evals'?)"),
    (b"[prunning]\nenabled = true\n", "unknown setting 'prunning' (did you mean 'pruning'?)"),
    (b"[[models]]\nnme = \"offline\"\n", "unknown setting 'models.0.nme' (did you mean 'models.0.name'?)"),
])
def test_a_misspelled_setting_gets_a_suggestion(tmp_path, text, fragment):
    (tmp_path / "c.toml").write_bytes(text)
    _refused(run_cli("launch", "--config", "c.toml", "--name", "x", cwd=tmp_path), fragment)


def test_an_unknown_setting_far_from_any_gets_no_suggestion():
    from evolve import config as cfgmod
    from scoring.errors import InputError

    with pytest.raises(InputError) as e:
        cfgmod.validate({"budget": {"zzzz": 1}}, "c.toml")
    assert str(e.value) == "c.toml: unknown setting 'budget.zzzz'"


def test_a_misspelled_model_is_refused_whole_with_a_suggestion(tmp_path):
    r = run_cli("launch", "--model", "offlne", "--name", "x", "--smoke", "--max-evals", "1", cwd=tmp_path, timeout=60)
    _refused(r, "unknown model 'offlne'", "did you mean 'offline'?")
    assert r.stderr.strip().endswith("did you mean 'offline'?")  # whole, not cut mid-word
    assert not (tmp_path / "populations" / "x" / "lineage.db").exists()
