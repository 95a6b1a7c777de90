"""A campaign whose lineage lives in a real PostgreSQL server (`--db postgresql+psycopg://...`): it runs to
its budget, and a second controller, started from another folder as from another machine, is refused by
the lease row while the first one runs."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import TASK_DIR
from tests.helpers import EVOLVE, run_cli
from tests.lineage.conftest import _fresh_url

pytestmark = pytest.mark.slow


def _query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as con:
        return con.execute(sql).fetchall()


def _count(url: str, table: str) -> int:
    try:
        return _query(url, f"select count(*) from {table}")[0][0]
    except psycopg.errors.UndefinedTable:  # the launch has not created the schema yet
        return -1


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path):
    with _fresh_url("postgresql", request, tmp_path) as url:
        yield url


def test_campaign_on_postgresql_runs_to_budget_and_holds_one_controller(pg_url: str, tmp_path: Path):
    here, elsewhere = tmp_path / "controller-a", tmp_path / "controller-b"
    here.mkdir()
    elsewhere.mkdir()
    budget = 2
    first = subprocess.Popen(
        [EVOLVE, "launch", "--task", str(TASK_DIR), "--name", "shared", "--db", pg_url, "--smoke",
         "--max-evals", str(budget), "--islands", "1", "--confirm-seeds", "0", "--json"],
        cwd=here, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if _count(pg_url, "campaign_leases") == 1 and _count(pg_url, "evaluations") == 0:
                break  # the lease is taken and the first evaluation is still running
            time.sleep(0.2)
        # No shared folder, only the database: the refusal can come from the lease row alone.
        second = run_cli("resume", "shared", "--db", pg_url, "--json", cwd=elsewhere, timeout=120)
        out, err = first.communicate(timeout=400)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr
    assert "already being run by" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert first.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "finished" and result["evaluations"] == budget

    assert _query(pg_url, "select count(*) from evaluations where status != 'interrupted'")[0][0] == budget
    kinds = [k for (k,) in _query(pg_url, "select kind from events order by id")]
    assert kinds[0] == "launch" and kinds[-1] == "finished" and "resume" not in kinds  # the refused one wrote nothing
    assert _query(pg_url, "select count(*) from campaign_leases")[0][0] == 0  # released at the end
    folder = here / "populations" / "shared"
    assert (folder / "campaign.toml").is_file() and not (folder / "lineage.db").exists()  # config here, rows there
    assert not (elsewhere / "populations" / "shared" / "campaign.toml").exists()

    again = run_cli("resume", "shared", "--db", pg_url, "--json", cwd=elsewhere, timeout=300)
    assert again.returncode == 0, again.stderr  # the lease was given up: another machine may continue it
    assert json.loads(again.stdout)["evaluations"] == budget
