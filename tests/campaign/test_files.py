"""Populations as files: checkout, best/, and a campaign started from another campaign's best."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from evolve import lineage
from evolve.launch import prepare_launch, run_session
from scoring.api import score
from scoring.errors import InputError
from scoring.task import load_task
from tests.campaign.conftest import RiggedExecutor, settings
from tests.conftest import TASK_DIR
from tests.helpers import run_cli


def _rigged_campaign(name: str, evals: int = 8, **sections):
    losses = iter([2.0 - 0.01 * i for i in range(100)])
    session = prepare_launch(settings(budget={"max_evals": evals}, **sections), name,
                             executor_factory=lambda t, c: RiggedExecutor(lambda job: next(losses)))
    return session, run_session(session)


@pytest.mark.slow
def test_checkout_of_a_crossover_child_reproduces_its_files_and_its_loss(in_tmp):
    # the loop and the offline operator are real; only training is rigged, to reach crossovers quickly
    session, _ = _rigged_campaign("cx", evals=16, islands={"count": 1},
                                  operators={"mutate": 0.1, "crossover": 1.0, "repair": 0.0},
                                  evaluation={"smoke": True, "confirm_seeds": 0})
    db, cid = session.db, session.campaign_id
    _, cands = lineage.export_rows(db, cid, "candidates")
    crossovers = [c for c in cands if c["operator"] == "crossover" and c["status"] == "ok" and c["parent2_id"]]
    assert crossovers, [(c["operator"], c["status"]) for c in cands]
    chosen = crossovers[0]["id"]
    stored = lineage.candidate(db, cid, chosen)
    out = in_tmp / "taken"
    r = run_cli("checkout", "cx", str(chosen), str(out), "--json", cwd=in_tmp)
    assert r.returncode == 0, r.stderr
    for name, text in stored.files.items():
        assert (out / name).read_text() == text
    md = (out / "CANDIDATE.md").read_text()
    assert f"# Candidate {chosen} of campaign `cx`" in md and f"x #{stored.candidate.parent2_id}" in md
    # the checked-out files train to exactly the loss the stored program gets on the same seed
    task = load_task(TASK_DIR)
    direct = score(stored.files, task, seed=11, smoke=True)
    r = run_cli("score", str(TASK_DIR), "--smoke", "--seed", "11", "--files-from", str(out), "--json")
    assert direct.status == "ok" and json.loads(r.stdout)["best_vloss"] == direct.best_vloss
    # and the campaign left its island's best as plain files
    top = lineage.top(db, cid, 1)[0]
    best = in_tmp / "populations" / "cx" / "best" / "island-0" / "train_mps.py"
    assert best.read_text() == lineage.candidate(db, cid, top.id).files["train_mps.py"]


def test_checkout_refuses_to_overwrite_different_files_without_force(in_tmp):
    session, outcome = _rigged_campaign("co")
    out = in_tmp / "dest"
    out.mkdir()
    (out / "model.py").write_text("# my own edits\n")
    r = run_cli("checkout", "co", "best", str(out), cwd=in_tmp)
    assert r.returncode == 2 and "already holds a different model.py" in r.stderr
    assert (out / "model.py").read_text() == "# my own edits\n"
    r = run_cli("checkout", "co", "best", str(out), "--force", "--json", cwd=in_tmp)
    assert r.returncode == 0 and json.loads(r.stdout)["candidate"] == outcome.best_id
    r = run_cli("checkout", "co", "banana", str(out), cwd=in_tmp)
    assert r.returncode == 2 and "number or 'best'" in r.stderr


def test_best_folder_is_replaced_when_a_campaign_resumes(in_tmp):
    session, outcome = _rigged_campaign("bestdir", islands={"count": 2})
    link = in_tmp / "populations" / "bestdir" / "best"
    first = link.resolve()
    assert outcome.best_dir and link.is_symlink() and (link / "island-0" / "CANDIDATE.md").is_file()
    from evolve.launch import prepare_resume

    losses = iter([1.0 - 0.01 * i for i in range(50)])
    run_session(prepare_resume("bestdir", budget={"max_evals": 12},
                               executor_factory=lambda t, c: RiggedExecutor(lambda job: next(losses))))
    assert link.resolve() != first and not first.exists()  # swapped, old set removed
    assert sorted(p.name for p in link.iterdir()) == ["island-0", "island-1"]


def test_a_campaign_started_from_another_keeps_the_link_back(in_tmp):
    a_session, a = _rigged_campaign("parent_run", evals=10, evaluation={"smoke": True, "confirm_seeds": 1})
    confirmed = [r.id for r in lineage.top(a_session.db, a_session.campaign_id, 20)
                 if sum(e.result.status == "ok" for e in
                        lineage.candidate(a_session.db, a_session.campaign_id, r.id).evaluations) >= 2][:2]
    b_session, b = _rigged_campaign("child_run", evals=8, islands={"count": 2},
                                    start={"campaign": "parent_run", "top": 2})
    db, cid = b_session.db, b_session.campaign_id
    _, cands = lineage.export_rows(db, cid, "candidates")
    starts = [c for c in cands if c["operator"] == "seed"]
    assert [s["origin"]["candidate"] for s in starts] == confirmed
    assert sorted(s["island"] for s in starts) == [0, 1]  # one start per island
    child = next(c for c in cands if c["parent_id"] is not None)
    r = run_cli("lineage", "child_run", str(child["id"]), "--json", cwd=in_tmp)
    earlier = json.loads(r.stdout)["earlier_campaigns"]
    assert earlier[0]["campaign"] == "parent_run"
    assert earlier[0]["ancestors"][0]["id"] in confirmed
    assert earlier[0]["ancestors"][-1]["operator"] == "seed"  # back to the first campaign's seed


def test_starting_from_a_campaign_of_another_task_names_the_difference(in_tmp):
    _rigged_campaign("source")
    other = in_tmp / "other_task"
    shutil.copytree(TASK_DIR, other)
    text = (other / "train_mps.py").read_text().replace("BATCH_SIZE = 32", "BATCH_SIZE = 16")
    (other / "train_mps.py").write_text(text)
    with pytest.raises(InputError, match="`BATCH_SIZE = 16` became `BATCH_SIZE = 32`"):
        prepare_launch(settings(task=str(other), start={"campaign": "source"}), "mismatch")
    assert not (in_tmp / "populations" / "mismatch").exists()


CHECKOUT_LOOP = """
import sys
from pathlib import Path
from evolve import lineage
from evolve.checkout import checkout
db = lineage.open_db(lineage.sqlite_url(Path(sys.argv[1])), create=False)
cid = lineage.campaign_id(db, sys.argv[2])
a, b = int(sys.argv[3]), int(sys.argv[4])
print("ready", flush=True)
i = 0
while True:
    checkout(db, cid, (a, b)[i % 2], Path(sys.argv[5]), force=True)
    i += 1
"""


def test_a_kill_during_checkout_leaves_old_or_new_files_never_partial(in_tmp):
    session, _ = _rigged_campaign("killco")
    db, cid = session.db, session.campaign_id
    ids = [r.id for r in lineage.top(db, cid, 5) if lineage.candidate(db, cid, r.id).files]
    versions = [lineage.candidate(db, cid, i).files for i in ids[:2]]
    assert versions[0] != versions[1]
    dest, rng = in_tmp / "dest", random.Random(3)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", CHECKOUT_LOOP, str(in_tmp / "populations" / "killco" /
                                 "lineage.db"), "killco", str(ids[0]), str(ids[1]), str(dest)],
                                stdout=subprocess.PIPE, cwd=in_tmp)
        proc.stdout.readline()
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for name in ("model.py", "train_mps.py"):
            if (dest / name).exists():
                assert (dest / name).read_text() in (versions[0][name], versions[1][name])
