"""Fixtures: a real PostgreSQL 15 server for the session, a fresh database per test on each engine, and
the hand-built lineage every query test answers against."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evolve import lineage as L
from scoring.result import ScoreResult

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # the server refuses to run as root; as root we run it as this system user


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", PG_USER, "--", *cmd]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Start a throwaway PostgreSQL server (initdb in a temp folder, free loopback port) for the session.

    Yields the server URL without a database name. Missing binaries fail under CI and skip elsewhere.
    """
    if not (PG_BIN / "initdb").exists():
        msg = f"PostgreSQL 15 binaries not found in {PG_BIN}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{msg}; CI must run the PostgreSQL tests (apt-get install postgresql)")
        pytest.skip(f"{msg}: install them with `apt-get install postgresql` (or set PG_BIN)")
    root = Path(tempfile.mkdtemp(prefix="evolve-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER)
        shutil.chown(sock, PG_USER)
        root.chmod(0o700)
    port = _free_port()
    log = root / "server.log"
    subprocess.run(
        _as_server_user(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        ),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    started = subprocess.run(
        _as_server_user(
            [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "30", "start"]
        ),
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        tail = log.read_text()[-2000:] if log.exists() else started.stderr
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {tail}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def _pg_admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as c:
        c.execute(sql)


@contextlib.contextmanager
def _fresh_url(engine: str, request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield L.sqlite_url(folder / "lineage.db")
        return
    server = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _pg_admin(server, f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        _pg_admin(server, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to a database that does not exist yet (SQLite) or is empty (PostgreSQL), on each engine."""
    with _fresh_url(request.param, request, tmp_path) as url:
        yield url


@dataclass(frozen=True)
class Built:
    """The hand-built lineage: its database, campaign id and candidate ids by letter."""

    db: L.Database
    url: str
    campaign: int
    ids: dict[str, int]
    migration_event: int


def _ok(seed: int, loss: float) -> ScoreResult:
    return ScoreResult(
        status="ok",
        reason="",
        seed=seed,
        best_vloss=loss,
        returned_vloss=loss,
        test_loss=loss + 0.05,
        steps=100,
        elapsed_s=1.5,
        device="cpu",
        cpu_s=3.0 + seed,
        max_rss_mb=500.0,
        step_flops=1e9,
        train_flops=1e11,
    )


def model_py(letter: str) -> str:
    return f"# candidate {letter}\nn_layer = {sum(map(ord, letter)) % 7}\nn_embd = 64\n"


TRAIN_PY = "def train():\n    return 1.0, 0.1\n"


def build(db: L.Database) -> tuple[int, dict[str, int], int]:
    """Two islands; seeds s0 (island 0) and s1 (island 1); a crossover child e of a and b; a crashed c
    repaired by d; a timeout f; a rejected duplicate g; a migrant (a to island 1); a pending h.

        s0 -> a -> c (crashed) -> d (repair)      island 0
        s1 -> b -> g (rejected)                   island 1
        a migrates to island 1; there a x b -> e (crossover, 2 seeds) -> f (timeout), and a -> h (running,
        its evaluation interrupted)
    """
    c = L.create_campaign(
        db,
        "demo",
        task_name="nanogpt_shakespeare",
        task_path="/seeds/tasks/nanogpt",
        config={"islands": 2, "model": "offline"},
        seed=7,
        islands=2,
    )
    with L.transaction(db) as tx:
        tx.event(c, "launch", {"by": "test"})
    ids: dict[str, int] = {}

    def add(
        letter: str,
        island: int,
        operator: str,
        persona: str | None = None,
        parent: str | None = None,
        parent2: str | None = None,
        cost: float = 0.0,
        code_hash: str | None = "same",
    ) -> int:
        ids[letter] = L.add_candidate(
            db,
            c,
            island=island,
            files={"model.py": model_py(letter), "train_mps.py": TRAIN_PY},
            operator=operator,
            persona=persona,
            model="offline" if persona else None,
            parent_id=ids.get(parent or ""),
            parent2_id=ids.get(parent2 or ""),
            code_hash=f"hash-{letter}" if code_hash == "same" else code_hash,
        )
        if persona is not None:
            with L.transaction(db) as tx:
                tx.llm_call(c, model="offline", prompt_hash=f"p-{letter}", tokens_in=1000, tokens_out=200,
                            cost_usd=cost, latency_s=0.5, reply="```python\n...\n```", candidate_id=ids[letter],
                            persona=persona, operator=operator)
        return ids[letter]

    def finish_ok(letter: str, *losses: float) -> None:
        for seed, loss in enumerate(losses):
            with L.transaction(db) as tx:
                tx.evaluation(ids[letter], _ok(seed, loss))
        L.finish_candidate(db, ids[letter], "ok")

    def fail(letter: str, status: str, reason: str) -> None:
        with L.transaction(db) as tx:
            tx.evaluation(ids[letter],
                          ScoreResult(status=status, reason=reason, seed=0, log_tail="Traceback ...\n" + reason))
        L.finish_candidate(db, ids[letter], status, reason)

    add("s0", 0, "seed")
    finish_ok("s0", 2.00)
    add("s1", 1, "seed")
    finish_ok("s1", 2.10)
    add("a", 0, "mutate", "newton", "s0", cost=0.01)
    finish_ok("a", 1.80)
    add("b", 1, "mutate", "curie", "s1", cost=0.02)
    finish_ok("b", 2.20)
    add("c", 0, "mutate", "newton", "a", cost=0.01)
    fail("c", "crashed", "RuntimeError: shapes do not match")
    add("d", 0, "repair", "curie", "c", cost=0.02)
    finish_ok("d", 1.70)
    with L.transaction(db) as tx:
        migration = tx.event(c, "migration", {"from": 0, "to": 1, "candidates": [ids["a"]]})
        tx.membership(c, 1, ids["a"], via="migration", event_id=migration)
    add("e", 1, "crossover", "darwin", "a", "b", cost=0.03)
    finish_ok("e", 1.55, 1.65)
    add("f", 1, "mutate", "curie", "e", cost=0.02)
    fail("f", "timeout", "killed after 600 s")
    add("g", 1, "mutate", "newton", "b", cost=0.01, code_hash=None)
    L.finish_candidate(db, ids["g"], "rejected", f"duplicate of candidate {ids['b']}")
    add("h", 1, "mutate", "darwin", "a", cost=0.03)
    # h was being evaluated when the controller died: its evaluation is interrupted, so it must re-run.
    with L.transaction(db) as tx:
        tx.set_status(ids["h"], "running")
        tx.evaluation(ids["h"], ScoreResult(status="interrupted", reason="controller stopped", seed=0))
    # A call that failed produced no candidate: its cost is still credited to its persona and operator.
    with L.transaction(db) as tx:
        tx.llm_call(c, model="offline", prompt_hash="p-x", cost_usd=0.005, error="rate limited", persona="newton",
                    operator="mutate")
    return c, ids, migration


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Built once per test module and engine: tests that use it only read (or write no-ops)."""
    with _fresh_url(request.param, request, tmp_path_factory.mktemp("built")) as url:
        db = L.open_db(url)
        c, ids, migration = build(db)
        try:
            yield Built(db, url, c, ids, migration)
        finally:
            db.close()
