"""Schema and opening: migrations agree with the models, pragmas are on, and bad files are refused untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from setuptools import find_packages

from evolve import lineage as L
from evolve.lineage.db import MIGRATIONS
from evolve.lineage.models import Base
from scoring.errors import InputError


def test_migration_head_matches_the_models(db_url: str) -> None:
    db = L.open_db(db_url)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == L.head_revision()
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diffs == []
    finally:
        db.close()
    L.open_db(db_url, create=False).close()  # opening again neither fails nor re-creates


def test_sqlite_is_opened_with_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = L.open_db(L.sqlite_url(tmp_path / "lineage.db"))
    try:
        with db.engine.connect() as conn:
            pragma = {
                p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                for p in ("journal_mode", "foreign_keys", "busy_timeout")
            }
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 15000}
    finally:
        db.close()


def test_migrations_ship_as_package_data() -> None:
    packages = find_packages(where=str(Path(L.__file__).parents[2]), include=["evolve*"])
    assert {"evolve.lineage.migrations", "evolve.lineage.migrations.versions"} <= set(packages)
    assert (MIGRATIONS / "script.py.mako").is_file()  # matched by the *.mako package-data glob


def _lineage_file(path: Path) -> Path:
    db = L.open_db(L.sqlite_url(path))
    L.create_campaign(db, "demo", task_name="t", task_path="/t", config={}, seed=1, islands=1)
    db.close()  # the last connection checkpoints the WAL into the file and removes it
    return path


def _refused_untouched(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(InputError, match=match):
        L.open_db(L.sqlite_url(path))
    with pytest.raises(InputError, match=match):
        L.open_db(L.sqlite_url(path), create=False, readonly=True)
    assert path.read_bytes() == before
    assert not path.with_name(path.name + "-wal").exists()


def test_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    garbage = tmp_path / "lineage.db"
    garbage.write_bytes(b"this is a text file, not a database\n" * 50)
    _refused_untouched(garbage, "not a SQLite database")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    _refused_untouched(empty, "not a SQLite database")


def test_truncated_database_is_refused_untouched(tmp_path: Path) -> None:
    path = _lineage_file(tmp_path / "lineage.db")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _refused_untouched(path, "truncated")


def test_corrupt_pages_are_refused_untouched(tmp_path: Path) -> None:
    path = _lineage_file(tmp_path / "lineage.db")
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, after the header
    path.write_bytes(bytes(data))
    _refused_untouched(path, "corrupt")


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = _lineage_file(tmp_path / "lineage.db")
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    con.close()
    _refused_untouched(path, "newer than this program")


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE notes (x TEXT)")
    con.close()
    _refused_untouched(path, "not a lineage database")


def test_bad_urls_and_missing_databases_are_input_errors(tmp_path: Path) -> None:
    for url, match in [
        ("not a url", "bad database URL"),
        ("mysql://u@h/d", "unsupported database"),
        (L.sqlite_url(tmp_path / "nope" / "x.db"), "does not exist"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open database"),
    ]:
        with pytest.raises(InputError, match=match):
            L.open_db(url)
    missing = tmp_path / "missing.db"
    with pytest.raises(InputError, match="no lineage database"):
        L.open_db(L.sqlite_url(missing), create=False)
    assert not missing.exists()  # a reading command never creates a database


def test_postgresql_newer_schema_is_refused(pg_server: str) -> None:
    from tests.lineage.conftest import _pg_admin

    _pg_admin(pg_server, "CREATE DATABASE future")
    url = f"{pg_server}/future"
    L.open_db(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    with pytest.raises(InputError, match="newer than this program"):
        L.open_db(url)
    _pg_admin(pg_server, "DROP DATABASE future WITH (FORCE)")


def test_a_database_of_the_first_revision_upgrades_keeping_its_rows(tmp_path: Path) -> None:
    """Revision 0002 adds the evaluations' cost columns: an older campaign opens, its evaluations kept, the
    new figures empty for them and recorded for new ones."""
    from alembic import command

    from evolve.lineage.db import _alembic_config
    from scoring.result import OK, ScoreResult

    url = L.sqlite_url(tmp_path / "old.db")
    db = L.open_db(url)
    c = L.create_campaign(db, "old", config={}, task_name="t", task_path="/t", seed=0, islands=1)
    cand = L.add_candidate(db, c, island=0, files={"a.py": "x = 1\n"}, operator="seed")
    with L.transaction(db) as tx:
        tx.evaluation(cand, ScoreResult(OK, "", 0, best_vloss=2.5, train_flops=1e9))
    with db.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001")
        columns = {c["name"] for c in sa.inspect(conn).get_columns("evaluations")}
    db.close()
    assert "train_flops" not in columns
    db = L.open_db(url)
    try:
        old = L.candidate(db, c, cand).evaluations[0].result
        assert (old.best_vloss, old.train_flops) == (2.5, None)
        new = L.add_candidate(db, c, island=0, files={"a.py": "x = 2\n"}, operator="mutate", parent_id=cand)
        with L.transaction(db) as tx:
            tx.evaluation(new, ScoreResult(OK, "", 0, best_vloss=2.4, cpu_s=3.5, train_flops=2e9))
        got = L.candidate(db, c, new).evaluations[0].result
        assert (got.cpu_s, got.train_flops) == (3.5, 2e9)
    finally:
        db.close()
