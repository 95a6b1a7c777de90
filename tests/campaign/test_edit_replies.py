"""Campaigns whose prompts ask for edits (issue 31), through litellm and the loopback server over HTTP.

The unhelpful modes train with the rigged executor (tests/campaign/conftest.py): what is checked is what
the campaign records and how it ends. The improving campaign trains for real (sandbox, smoke budget).
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from evolve import lineage
from evolve.campaign import Stop
from evolve.launch import prepare_launch, run_session
from evolve.operators.reply import parse_reply
from evolve.operators.server import LoopbackServer
from tests.campaign.conftest import RiggedExecutor, settings
from tests.conftest import TASK_DIR
from tests.helpers import run_cli

EDITS = {"reply_format": "edits"}


def _rigged(name, server, **sections):
    llm = {"concurrency": 2, "max_fruitless": 6, "fruitless_backoff_s": 0.01, "retries": 0, **EDITS}
    cfg = settings(models=[{"name": "openai/offline", "api_base": server.url}], llm=llm,
                   evaluation={"smoke": True, "confirm_seeds": 0}, budget={"max_evals": 30}, **sections)
    loss = lambda job: 2.0 if job.candidate_id == 1 else 2.5  # noqa: E731 - every parent is the seed
    session = prepare_launch(cfg, name, executor_factory=lambda t, c: RiggedExecutor(loss))
    outcome = run_session(session)
    rows = {t: lineage.export_rows(session.db, session.campaign_id, t)[1] for t in ("llm_calls", "candidates")}
    return outcome, rows


MISSED = "had edits that did not apply"


@pytest.mark.parametrize(("mode", "kind", "said", "reason"), [
    ("edit_mismatch", "edit_mismatch", MISSED, "its SEARCH text matches nothing; nearest: line"),
    ("edit_twice", "edit_mismatch", MISSED, "places (lines"),
    ("edit_cut", "unparseable", "could not be parsed", "is never closed (reply cut off?)"),
    ("edit_frozen", "constraint_violation", "broke the frozen protocol", "EVAL_ITERS_BONUS"),
])
def test_an_edit_reply_that_never_applies_ends_the_campaign_with_its_reasons(in_tmp, mode, kind, said, reason):
    with LoopbackServer(mode=mode) as server:
        outcome, rows = _rigged(f"never-{mode}", server)
        prompts = list(server.httpd.prompts)
    assert outcome.cause is Stop.NO_PROGRESS
    assert outcome.reason == f"no progress: the last 6 proposals gave nothing to train (6 {said})"
    refused = [c for c in rows["candidates"] if c["operator"] != "seed"]
    assert len(refused) >= 6 and all(c["reason"].startswith(f"{kind}: ") and reason in c["reason"] for c in refused)
    assert all("<<<<<<< SEARCH" in c["reply"] for c in rows["llm_calls"])  # the reply as sent is on record
    assert all("Answer with edits" in p for p in prompts)
    if mode == "edit_mismatch":  # the next prompt from the seed tells the model what its edit missed
        newest = max(refused[:-2], key=lambda c: c["id"])
        told = [p for p in prompts if f"- candidate {newest['id']} " in p]
        assert told and "edit_mismatch: " in told[0] and "where the SEARCH has" in told[0]


def test_an_unknown_reply_format_is_a_one_line_error(in_tmp):
    (in_tmp / "c.toml").write_text('[llm]\nreply_format = "diff"\n')
    r = run_cli("launch", "--config", "c.toml", "--task", str(TASK_DIR), "--name", "bad", cwd=in_tmp)
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: c.toml: llm.reply_format: Input should be 'full', 'edits' or 'mixed'")
    assert not (in_tmp / "populations").exists()


@pytest.mark.slow
def test_an_edits_campaign_through_litellm_trains_an_improving_child(in_tmp):
    (in_tmp / "c.toml").write_text('[llm]\nreply_format = "edits"\n')
    with LoopbackServer() as server:
        r = run_cli("launch", "--config", "c.toml", "--task", str(TASK_DIR), "--name", "edits", "--smoke",
                    "--max-evals", "4", "--islands", "1", "--confirm-seeds", "0", "--model", "openai/offline",
                    "--api-base", server.url, "--json", cwd=in_tmp, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["evaluations"] == 4
    folder = in_tmp / "populations" / "edits"
    with sqlite3.connect(f"file:{folder / 'lineage.db'}?mode=ro", uri=True) as con:
        rows = con.execute("select c.id, c.parent_id, c.fitness, p.fitness, l.reply from candidates c "
                           "join candidates p on p.id = c.parent_id join llm_calls l on l.candidate_id = c.id "
                           "where c.status = 'ok'").fetchall()
    assert any(child < parent for _, _, child, parent, _ in rows), rows  # an improving child
    db = lineage.open_db(lineage.sqlite_url(folder / "lineage.db"), create=False)
    for cid, pid, _, _, reply in rows:  # the reply as sent is edits; the files as applied are the candidate's
        before, after = lineage.candidate_files(db, pid), lineage.candidate_files(db, cid)
        assert "<<<<<<< SEARCH" in reply and after != before
        assert dict(parse_reply(reply, before).files) == after
    db.close()
    diff = run_cli("show", "edits", str(rows[0][0]), "--diff", cwd=in_tmp)
    assert diff.returncode == 0 and "@@" in diff.stdout
