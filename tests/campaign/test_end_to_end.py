"""Real campaigns: sandboxed smoke training, the real `evolve` command, kill -9 and resume."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from evolve.operators.server import LoopbackServer
from tests.conftest import TASK_DIR
from tests.helpers import EVOLVE, run_cli

pytestmark = pytest.mark.slow


def _db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{folder / 'lineage.db'}?mode=ro", uri=True)


def _check_consistent(folder: Path, budget: int) -> None:
    """The promises of a finished campaign, read straight from its database file."""
    with _db(folder) as con:
        pairs = con.execute("select candidate_id, seed from evaluations where status != 'interrupted'").fetchall()
        assert len(pairs) == budget, "evaluations must equal the budget"
        assert len(set(pairs)) == len(pairs), "a (candidate, seed) was evaluated twice"
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        stuck = con.execute("select count(*) from candidates where status = 'running'").fetchone()[0]
        assert stuck == 0
        # every ok candidate's fitness is the mean of its ok evaluations
        for cid, fitness in con.execute("select id, fitness from candidates where status = 'ok'"):
            mean = con.execute("select avg(best_vloss) from evaluations where candidate_id = ? and status = 'ok'",
                               (cid,)).fetchone()[0]
            assert fitness == pytest.approx(mean)


def test_offline_campaign_end_to_end_through_the_cli(in_tmp):
    r = run_cli("launch", "--task", str(TASK_DIR), "--name", "e2e", "--smoke", "--max-evals", "6",
                "--islands", "2", "--confirm-seeds", "1", "--json", cwd=in_tmp, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "finished" and out["evaluations"] == 6
    assert out["seed"]["val_loss"] is not None and out["best"]["val_loss"] <= out["seed"]["val_loss"]
    folder = in_tmp / "populations" / "e2e"
    assert (folder / "campaign.toml").is_file()
    _check_consistent(folder, 6)
    with _db(folder) as con:
        models = {m for (m,) in con.execute("select model from candidates where operator != 'seed'")}
        assert models == {"offline"}  # honest about which model wrote the code
        kinds = [k for (k,) in con.execute("select kind from events order by id")]
    assert kinds[0] == "launch" and kinds[-1] == "finished" and "budget_reached" in kinds
    status = run_cli("status", "e2e", "--json", cwd=in_tmp)
    assert status.returncode == 0 and json.loads(status.stdout)


def test_campaign_through_litellm_and_the_loopback_server(in_tmp):
    with LoopbackServer(latency_s=0.05) as server:
        r = run_cli("launch", "--task", str(TASK_DIR), "--name", "http", "--smoke", "--max-evals", "4",
                    "--confirm-seeds", "0", "--model", "openai/offline", "--api-base", server.url, "--json",
                    cwd=in_tmp, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["evaluations"] == 4
    folder = in_tmp / "populations" / "http"
    _check_consistent(folder, 4)
    with _db(folder) as con:
        calls = con.execute("select model, error, tokens_in, latency_s from llm_calls").fetchall()
    assert calls and all(m == "openai/offline" and e is None and t > 0 and lat >= 0.05 for m, e, t, lat in calls)


def test_missing_api_key_is_refused_before_anything_is_written(in_tmp):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    r = subprocess.run([EVOLVE, "launch", "--task", str(TASK_DIR), "--name", "nokey", "--model", "gpt-4o-mini"],
                       capture_output=True, text=True, cwd=in_tmp, env=env, timeout=120)
    assert r.returncode == 2 and "OPENAI_API_KEY" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (in_tmp / "populations" / "nokey").exists()


def test_bad_settings_are_one_line_errors(in_tmp):
    bad = in_tmp / "bad.toml"
    bad.write_text("[budget]\nmax_evals = 5\nmax_evlas = 3\n")
    r = run_cli("launch", "--config", str(bad), cwd=in_tmp)
    assert (r.returncode, r.stderr.strip()) == (2, f"error: {bad}: unknown setting 'budget.max_evlas' "
                                                   "(did you mean 'budget.max_evals'?)")
    bad.write_text('[budget]\nmax_evals = "ten"\n')
    r = run_cli("launch", "--config", str(bad), cwd=in_tmp)
    assert r.returncode == 2 and "budget.max_evals" in r.stderr and "Traceback" not in r.stderr
    assert not (in_tmp / "populations").exists()


def _campaign_processes(folder: Path) -> list[int]:
    """Processes whose command line names this campaign's folder (the sandboxed runners)."""
    marker = str(folder.resolve()).encode()
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


def _evals_done(folder: Path) -> int:
    try:
        with _db(folder) as con:
            return con.execute("select count(*) from evaluations where status != 'interrupted'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_minus_9_and_resume_reaches_the_same_budget(in_tmp):
    budget, rng = 8, random.Random(7)
    folder = in_tmp / "populations" / "killed"
    args = [EVOLVE, "launch", "--task", str(TASK_DIR), "--name", "killed", "--smoke", "--max-evals", str(budget),
            "--islands", "2", "--confirm-seeds", "1", "--json"]
    kills = 0
    while True:
        proc = subprocess.Popen(args, cwd=in_tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kills < 3:
            before = _evals_done(folder)
            deadline = time.monotonic() + 120
            while _evals_done(folder) <= before and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
            time.sleep(rng.uniform(0.5, 3.0))  # somewhere inside the next evaluation or write
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                time.sleep(1.5)  # the orphaned runners notice their parent is gone
                assert _campaign_processes(folder) == [], "a runner outlived its killed controller"
                args = [EVOLVE, "resume", "killed", "--json"]
                continue
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        break
    assert kills >= 2
    assert json.loads(out)["evaluations"] == budget
    _check_consistent(folder, budget)
    with _db(folder) as con:
        kinds = [k for (k,) in con.execute("select kind from events")]
    assert kinds.count("resume") == kills and kinds.count("interruption") >= kills
    assert _campaign_processes(folder) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_after_the_running_evaluation_and_resume_finishes(in_tmp, sig):
    # SIGTERM is what `docker compose stop`, systemd and Kubernetes send: the same graceful stop as Ctrl-C
    name = f"interrupted-{sig.name}"
    folder = in_tmp / "populations" / name
    proc = subprocess.Popen([EVOLVE, "launch", "--task", str(TASK_DIR), "--name", name, "--smoke",
                             "--max-evals", "4", "--confirm-seeds", "0", "--json"],
                            cwd=in_tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (_evals_done(folder) >= 1 and _running(folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _running(folder), "no evaluation was running when the signal was to be sent"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    stopped = json.loads(out)
    assert stopped["status"] == "stopped" and stopped["cause"] == "user" and 2 <= stopped["evaluations"] < 4
    with _db(folder) as con:
        assert con.execute("select status from campaigns").fetchone()[0] == "stopped"
        # graceful: the evaluation that was running finished and was recorded, none was cut short
        assert con.execute("select count(*) from evaluations where status = 'interrupted'").fetchone()[0] == 0
    r = run_cli("resume", name, "--json", cwd=in_tmp, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["evaluations"] == 4
    _check_consistent(folder, 4)


def _running(folder: Path) -> bool:
    """A candidate is being evaluated: running, with no final evaluation yet (the seed's row still says
    running for a moment after its evaluation is recorded)."""
    try:
        with _db(folder) as con:
            return con.execute(
                "select count(*) from candidates c where c.status = 'running' and not exists (select 1 from "
                "evaluations e where e.candidate_id = c.id and e.status != 'interrupted')").fetchone()[0] > 0
    except sqlite3.Error:
        return False
