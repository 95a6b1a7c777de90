"""`evolve status` tells a campaign whose controller was killed from one that runs, and says to resume it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from datetime import timedelta

import pytest

from evolve import lineage
from evolve.lineage.lease import LeaseInfo, controller_gone
from evolve.lineage.models import utcnow
from tests.conftest import TASK_DIR
from tests.helpers import EVOLVE, run_cli
from tests.reliability.fuzz import campaign_processes

FILES = {"model.py": "x = 1\n"}


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_lease_names_a_live_controller_only_while_it_is_renewed_and_its_process_exists():
    here, now = socket.gethostname(), utcnow()
    later = now + timedelta(seconds=60)
    assert controller_gone(None)  # a running campaign nobody holds
    assert not controller_gone(LeaseInfo(1, "o", here, os.getpid(), later), now)
    assert controller_gone(LeaseInfo(1, "o", here, _dead_pid(), later), now)  # killed on this machine
    assert controller_gone(LeaseInfo(1, "o", here, os.getpid(), now - timedelta(seconds=1)), now)  # not renewed
    # another machine's controller: only its lease's expiry tells
    assert not controller_gone(LeaseInfo(1, "o", "elsewhere.invalid", _dead_pid(), later), now)
    assert controller_gone(LeaseInfo(1, "o", "elsewhere.invalid", 1, now - timedelta(seconds=1)), now)


def test_status_of_a_campaign_stored_as_running_with_nobody_holding_it(tmp_path):
    db = lineage.open_db(lineage.sqlite_url(tmp_path / "lineage.db"))
    cid = lineage.create_campaign(db, "c", task_name="t", task_path="/t", config={}, seed=0, islands=1)
    lineage.add_candidate(db, cid, island=0, files=FILES, operator="seed")
    with lineage.transaction(db) as tx:
        tx.campaign_status(cid, "running")
    lineage.acquire_lease(db, cid, "alive")
    s = lineage.status_summary(db, cid).to_dict()
    assert (s["status"], s["next"], s["by_status"]) == ("running", None, {"pending": 1})
    assert s["controller"] == f"pid {os.getpid()} on {socket.gethostname()}"
    lineage.release_lease(db, cid, "alive")  # as if the row were lost: nobody runs it
    s = lineage.status_summary(db, cid).to_dict()
    assert (s["status"], s["next"], s["by_status"]) == ("interrupted", "evolve resume c", {"not trained": 1})
    db.close()


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="checks processes in /proc")
def test_status_after_a_kill_9_of_the_controller_says_it_is_gone_and_to_resume(tmp_path):
    folder = tmp_path / "populations" / "killed"
    proc = subprocess.Popen([EVOLVE, "launch", "--task", str(TASK_DIR), "--name", "killed", "--smoke",
                             "--max-evals", "30", "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not campaign_processes(folder) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until an evaluation runs: the campaign is running and its lease held
        assert proc.poll() is None, proc.communicate()
        live = json.loads(run_cli("status", "killed", "--json", cwd=tmp_path).stdout)
        assert live["status"] == "running" and live["controller"] == f"pid {proc.pid} on {socket.gethostname()}"
        assert live["next"] is None and "evolve resume" not in (live["stop_reason"] or "")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    dead = json.loads(run_cli("status", "killed", "--json", cwd=tmp_path).stdout)
    assert dead["status"] == "interrupted" and dead["next"] == "evolve resume killed"
    assert dead["stop_reason"].startswith(f"its controller (pid {proc.pid} on ") and "is gone" in dead["stop_reason"]
    assert "pending" not in dead["by_status"] and "running" not in dead["by_status"]
    text = run_cli("status", "killed", cwd=tmp_path).stdout
    assert "interrupted" in text and "is gone" in text and "evolve resume killed" in text
    deadline = time.monotonic() + 10
    while campaign_processes(folder) and time.monotonic() < deadline:  # its orphaned runner ends on its own
        time.sleep(0.1)
