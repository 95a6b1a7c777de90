"""Opening a lineage database: URL, engine, pragmas, schema checks and migrations.

An existing SQLite file is inspected read-only before any engine touches it, so that a corrupt file, a
file that is not SQLite, or a database written by a newer version of this program is refused without a
single byte of it being changed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from scoring.errors import InputError

MIGRATIONS = Path(__file__).parent / "migrations"
POPULATIONS = Path("populations")
DB_FILE = "lineage.db"
BUSY_TIMEOUT_MS = 15_000  # a second controller or a reader may hold the write lock briefly
_SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Database:
    """An open lineage database. Every library function takes one; nothing past it sees ORM objects."""

    engine: Engine
    readonly: bool = False
    _sessions: sessionmaker[Session] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sessions", sessionmaker(self.engine, expire_on_commit=False))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    heads = _scripts().get_heads()
    assert len(heads) == 1, f"migrations have {len(heads)} heads; merge them"
    return heads[0]


def known_revisions() -> set[str]:
    return {s.revision for s in _scripts().walk_revisions()}


def parse_url(url: str) -> URL:
    """The URL, checked; `postgres://` (the scheme most hosts and images put in DATABASE_URL), which
    SQLAlchemy does not know, is read as `postgresql://` (with its driver, if any: `postgres+psycopg://`)."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as e:
        raise InputError(f"bad database URL {url!r}: {e}") from None
    backend, plus, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        parsed = parsed.set(drivername=f"postgresql{plus}{driver}")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError(f"unsupported database {parsed.get_backend_name()!r} in {shown_url(parsed)!r}: "
                         "use sqlite or postgresql (or postgres)")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        # every connection of an in-memory database is a different, empty database: a campaign cannot live there
        raise InputError(f"database URL {url!r} names no file: use sqlite:///path/to/lineage.db")
    return parsed


def shown_url(url: str | URL) -> str:
    """The URL as it may be printed or stored: its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def campaign_location(name: str, db_url: str | None = None, root: Path = POPULATIONS) -> tuple[str, str]:
    """(database URL, campaign name) for a NAME given on the command line.

    NAME is a folder under `populations/`, or a path to a campaign folder; with `--db`, it is the
    campaign's name inside that database.
    """
    if db_url is not None:
        return db_url, name
    folder = Path(name) if ("/" in name or name in (".", "..")) else root / name
    if not folder.is_dir():
        raise InputError(f"no campaign {name!r}: folder {folder} does not exist")
    path = folder / DB_FILE
    if not path.is_file():
        raise InputError(f"no lineage database in {folder} (expected {path}); give one with --db URL")
    return sqlite_url(path), folder.resolve().name


def _inspect_sqlite_file(path: Path) -> tuple[bool, str | None]:
    """(has any table, alembic revision or None), reading the file only. Refuses what is not ours."""
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a database file")
    wal = path.with_name(path.name + "-wal")
    _check_header(path, wal)
    tables, revision = _read_schema(path, wal)
    if tables and revision is None:
        raise InputError(f"{path} is a SQLite database but not a lineage database (no schema version)")
    return bool(tables), revision


def _check_header(path: Path, wal: Path) -> None:
    """Refuse a file that is not SQLite, or one shorter than the page count its header records."""
    with path.open("rb") as f:
        header = f.read(100)
    if not header.startswith(_SQLITE_MAGIC) or len(header) < 100:
        raise InputError(f"{path} is not a SQLite database (empty, truncated or another kind of file)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The header records the page count; a shorter file lost its tail (a copy cut short, a full disk).
    if pages and path.stat().st_size < page_size * pages and not wal.exists():
        raise InputError(f"{path} is truncated: {path.stat().st_size} bytes, its header says {page_size * pages}")


def _read_schema(path: Path, wal: Path) -> tuple[set[str], str | None]:
    """The file's table names and alembic revision (None if it has none), read without writing a byte."""
    try:
        # Without a WAL file nothing newer than the main file exists, so `immutable` may read it without
        # creating -wal/-shm files beside it; with one, read-only mode sees the latest commits.
        mode = "mode=ro" if wal.exists() else "immutable=1"
        con = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = None
            if "alembic_version" in tables:
                row = con.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise InputError(f"{path} is corrupt or not a lineage database: {e}") from None
    return tables, revision


def _check_revision(revision: str | None, where: str) -> None:
    if revision is not None and revision not in known_revisions():
        raise InputError(
            f"{where} has schema revision {revision!r}, newer than this program knows "
            f"(head {head_revision()!r}); upgrade persona-evolve"
        )


def _set_sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object, readonly: bool) -> None:
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    # 64 MB of page cache (default 2 MB): lineage walks and credit scans of a 100k campaign stay in memory.
    cur.execute("PRAGMA cache_size = -65536")
    if readonly:
        cur.execute("PRAGMA query_only = ON")
    else:
        # WAL: readers (the query commands) never block the controller; NORMAL is durable in WAL mode
        # except for the last transactions on power loss, which resume recomputes from rows anyway.
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def _make_engine(url: URL, readonly: bool) -> Engine:
    path = sqlite_path(url)
    if url.get_backend_name() == "sqlite":
        if readonly and path is not None:
            # mode=ro: SQLite itself refuses every write on this connection, whatever SQL arrives.
            url = URL.create(
                "sqlite", database=f"file:{quote(str(path.resolve()))}", query={"mode": "ro", "uri": "true"}
            )
        engine = sa.create_engine(url)
        event.listen(engine, "connect", lambda c, r: _set_sqlite_pragmas(c, r, readonly))
        return engine
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship and test
    connect_args = {"options": "-c default_transaction_read_only=on"} if readonly else {}
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _server_revision(engine: Engine, where: str) -> tuple[bool, str | None]:
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            revision = None
            if "alembic_version" in tables:
                revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.OperationalError as e:
        first = str(e.orig or e).strip().splitlines()[0] if str(e.orig or e).strip() else type(e).__name__
        raise InputError(f"cannot open database {where}: {first}") from None
    if tables and revision is None:
        raise InputError(f"{where} is not a lineage database (tables but no schema version)")
    return bool(tables), revision


def migrate(engine: Engine) -> None:
    """Bring the schema to this program's head (a fresh database is created this way)."""
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")


def _create_sqlite_atomically(path: Path) -> None:
    """Build the schema in a scratch file and rename it into place: a controller killed while creating
    a database leaves either no database or a whole one, never half a schema that nothing can open."""
    scratch = path.with_name(f".{path.name}.creating-{os.getpid()}")
    scratch.unlink(missing_ok=True)
    engine = _make_engine(make_url(sqlite_url(scratch)), readonly=False)
    try:
        migrate(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    for suffix in ("-wal", "-shm"):
        scratch.with_name(scratch.name + suffix).unlink(missing_ok=True)
    os.replace(scratch, path)


def open_db(url: str, *, create: bool = True, readonly: bool = False) -> Database:
    """Open (and with `create`, create or upgrade) the lineage database at `url`.

    Raises InputError for a bad URL, a missing database when `create` is false, a corrupt file, a
    database that is not a lineage database, or one from a newer schema; none of these is modified.
    """
    parsed = parse_url(url)
    where = shown_url(parsed)
    path = sqlite_path(parsed)
    if path is not None:
        has_tables, revision = _sqlite_schema(path, create, readonly)
        _check_revision(revision, str(path))
        engine = _make_engine(parsed, readonly)
    else:
        engine = _make_engine(parsed, readonly)
        has_tables, revision = _server_revision(engine, where)
        _check_revision(revision, where)
    if revision != head_revision():
        _upgrade(engine, where, has_tables, create, readonly)
    return Database(engine, readonly=readonly)


def _sqlite_schema(path: Path, create: bool, readonly: bool) -> tuple[bool, str | None]:
    """(has any table, revision) of a SQLite file: an existing one inspected, a missing one created whole
    when the caller may create it."""
    if path.exists():
        return _inspect_sqlite_file(path)
    if not create or readonly:
        raise InputError(f"no lineage database at {path}")
    if not path.parent.is_dir():
        raise InputError(f"cannot create {path}: folder {path.parent} does not exist")
    _create_sqlite_atomically(path)
    return True, head_revision()


def _upgrade(engine: Engine, where: str, has_tables: bool, create: bool, readonly: bool) -> None:
    """Bring a schema behind head (or an empty database) to head, where the caller allows writing it."""
    if readonly or not (create or has_tables):
        engine.dispose()
        raise InputError(
            f"no lineage database at {where}"
            if not has_tables
            else f"{where} needs a schema upgrade; open it once without read-only"
        )
    migrate(engine)


@contextlib.contextmanager
def corruption_as_input_error(where: str = "the lineage database") -> Iterator[None]:
    """A file that passed the cheap checks can still hold damaged pages: say so, without a traceback."""
    try:
        yield
    except sa.exc.DatabaseError as e:
        text = str(e.orig or e)
        if any(s in text for s in ("malformed", "not a database", "disk image", "file is encrypted")):
            raise InputError(f"{where} is corrupt: {text.splitlines()[0]}") from None
        raise
