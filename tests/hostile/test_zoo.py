"""The hostile-candidate zoo, scored for real: each candidate gets its expected status and reason, leaves
no process behind, and the controller's API key appears in no log file and no lineage row.

The whole zoo runs once (two evaluations at a time) in a controller process started with the key in its
environment, from a module fixture; each check is its own test.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from scoring import confine, syscalls
from tests.hostile.zoo import HONEST_MARGIN, SECRET, ZOO, Observation, cap_bytes, run_zoo_in_controller

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.isdir("/proc"), reason="checks leftovers in /proc")]


@pytest.fixture(scope="module")
def zoo(task, tmp_path_factory) -> tuple[dict[str, Observation], Path]:
    campaign = tmp_path_factory.mktemp("zoo") / "populations" / "zoo"
    observations = run_zoo_in_controller(campaign)  # raises if a candidate took the controller down
    return {o.hostile.name: o for o in observations}, campaign


def test_the_zoo_is_big_enough_and_covers_every_status():
    assert len(ZOO) >= 58  # the 36 of the first zoo, and at least 22 against the trusted evaluation
    assert {h.expect for h in ZOO} >= {"ok", "rejected", "constraint_violation", "timeout", "crashed",
                                       "invalid_result", "integrity_violation", "causal_leak"}


@pytest.mark.parametrize("name", [h.name for h in ZOO])
def test_candidate_gets_its_expected_status_and_reason(zoo, name):
    obs = zoo[0][name]
    if obs.skipped:
        pytest.skip(obs.skipped)
    r = obs.result
    assert (r.status, obs.hostile.reason in r.reason) == (obs.hostile.expect, True), r.reason
    assert obs.leftovers == [], f"processes outlived the evaluation: {obs.leftovers}"
    assert not obs.secret_in_logs
    assert obs.escaped_files == []
    assert obs.log_bytes[0] <= cap_bytes() and obs.log_bytes[1] <= cap_bytes()


@pytest.mark.parametrize("name", [h.name for h in ZOO if h.honest])
def test_a_cheat_scored_ok_earned_no_better_fitness_than_the_unchanged_seed(zoo, name):
    obs, seed = zoo[0][name], zoo[0]["honest_seed"]
    if obs.skipped:
        pytest.skip(obs.skipped)
    assert obs.result.status == "ok" and seed.result.status == "ok"
    assert obs.result.best_vloss >= seed.result.best_vloss - HONEST_MARGIN, (obs.result.best_vloss,
                                                                             seed.result.best_vloss)
    assert obs.result.test_loss >= seed.result.test_loss - HONEST_MARGIN


def test_the_flood_is_capped_and_counted(zoo):
    obs = zoo[0]["flood_output"]
    assert obs.result.status == "ok"
    for path in (obs.result.stdout_path, obs.result.stderr_path):
        text = Path(path).read_text()
        assert "[log capped:" in text and "more bytes dropped]" in text


def test_a_thread_that_never_ends_does_not_hold_the_evaluation(zoo):
    r = zoo[0]["thread_outlives_train"].result
    assert r.status == "ok" and r.wall_s < 120  # scored when train() returned, not at the 180 s timeout


def test_notes_say_truthfully_whether_the_network_was_isolated(zoo):
    notes = zoo[0]["return_nan"].result.notes
    if confine.namespace_prefix():
        assert "network isolated" in notes and "file system read-only outside the run folder" in notes
        assert "dataset hidden from the candidate" in notes
    else:
        assert "network not isolated" in notes
        assert "dataset readable by the candidate (no mount namespace on this host)" in notes
    if syscalls.supported():
        assert "page-cache and key-store system calls denied" in notes
    network = zoo[0]["opens_network"]
    if not network.skipped:
        assert "network unreachable" in network.result.log_tail


def test_the_secret_is_in_no_row_and_no_file_of_the_campaign(zoo):
    observations, campaign = zoo
    assert "OPENAI_API_KEY = None" in observations["reads_api_key"].result.log_tail
    needle = SECRET.encode()
    leaked = [str(p) for p in campaign.rglob("*") if p.is_file() and needle in p.read_bytes()]
    assert leaked == []
    with sqlite3.connect(campaign / "lineage.db") as con:
        n = con.execute("select count(*) from evaluations").fetchone()[0]
        dump = "\n".join(con.iterdump())
    assert n == sum(1 for o in observations.values() if o.result is not None)
    assert SECRET not in dump


def test_the_lineage_database_was_not_touched_by_a_candidate(zoo):
    observations, campaign = zoo
    if observations["tampers_lineage_db"].skipped:
        pytest.skip("file system confinement needs namespaces")
    with sqlite3.connect(campaign / "lineage.db") as con:
        tables = {t for (t,) in con.execute("select name from sqlite_master where type = 'table'")}
        assert "forged" not in tables
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
