"""The progress guard and the LLM-call budget: whatever the LLM answers, a campaign ends by itself.

The LLM is real: litellm over HTTP to the loopback server, told to answer only duplicates, only prose,
only frozen-block edits, or to stall. Training is the rigged executor (tests/campaign/conftest.py): what
is checked here is the loop's spending, not the models.
"""

from __future__ import annotations

import json

import pytest

from evolve import lineage
from evolve.campaign import Stop
from evolve.kinds import Rejection
from evolve.launch import prepare_launch, run_session
from evolve.operators.server import LoopbackServer
from evolve.progress import BACKOFF_CAP_S, MAX_FAILED_CALLS_IN_A_ROW, ProgressGuard
from tests.campaign.conftest import RiggedExecutor, settings
from tests.conftest import TASK_DIR
from tests.helpers import run_cli


def _campaign(name, server, slow_s=0.0, **sections):
    sections.setdefault("budget", {"max_evals": 30})
    llm = {"concurrency": 2, "max_fruitless": 8, "fruitless_backoff_s": 0.01, "retries": 0,
           **sections.pop("llm", {})}
    cfg = settings(models=[{"name": "openai/offline", "api_base": server.url}], llm=llm,
                   evaluation={"smoke": True, "confirm_seeds": 0}, **sections)
    # children score worse than the seed, so every proposal has the seed as its parent
    loss = lambda job: 2.0 if job.candidate_id == 1 else 2.5  # noqa: E731
    session = prepare_launch(cfg, name, executor_factory=lambda t, c: RiggedExecutor(loss, delay_s=slow_s))
    outcome = run_session(session)
    rows = {t: lineage.export_rows(session.db, session.campaign_id, t)[1]
            for t in ("llm_calls", "candidates", "events")}
    return outcome, rows


# -- the guard on its own ---------------------------------------------------------------------------------

def test_the_wait_starts_at_the_second_fruitless_proposal_in_a_row_doubles_to_its_cap_and_a_success_resets_it():
    g = ProgressGuard(max_fruitless=100, backoff_s=0.5)
    assert g.wait_s() == 0.0
    waits = []
    for _ in range(8):
        g.fruitless(Rejection.DUPLICATE)
        waits.append(g.wait_s())
    assert waits == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, BACKOFF_CAP_S, BACKOFF_CAP_S]
    g.fruitful()
    assert g.wait_s() == 0.0 and g.verdict() is None
    g.fruitless(Rejection.NO_OP)  # one rejection after a success: no wait
    assert g.wait_s() == 0.0


def test_the_verdict_names_every_cause_with_its_count_dominant_first():
    g = ProgressGuard(max_fruitless=5, backoff_s=0.0)
    for cause in (Rejection.CONSTRAINT_VIOLATION, Rejection.DUPLICATE, Rejection.DUPLICATE, Rejection.DUPLICATE):
        g.fruitless(cause)
    assert g.verdict() is None
    g.fruitless(Rejection.UNPARSEABLE)
    assert g.verdict() == ("no progress: the last 5 proposals gave nothing to train (3 duplicates of earlier "
                           "programs, 1 broke the frozen protocol, 1 could not be parsed)")


def test_every_cause_is_said_and_only_a_rejection_is_a_cause():
    g = ProgressGuard(max_fruitless=len(Rejection), backoff_s=0.0)
    for cause in Rejection:
        g.fruitless(cause)
    assert g.verdict().count(", ") == len(Rejection) - 1  # each member named in words
    with pytest.raises(TypeError, match="not 'duplicate'"):
        g.fruitless("duplicate")
    with pytest.raises(TypeError):
        g.fruitless("reply_too_long")


def test_failed_calls_in_a_row_stop_before_the_fruitless_bound():
    g = ProgressGuard(max_fruitless=1000, backoff_s=0.0)
    g.fruitless(Rejection.DUPLICATE)
    for _ in range(MAX_FAILED_CALLS_IN_A_ROW - 1):
        g.fruitless(Rejection.LLM_ERROR, "APIConnectionError: refused")
    assert g.verdict() is None
    g.fruitless(Rejection.LLM_ERROR, "Timeout: no answer")
    assert g.verdict() == f"the last {MAX_FAILED_CALLS_IN_A_ROW} LLM calls failed (last error: Timeout: no answer)"


# -- campaigns against an LLM that never helps ------------------------------------------------------------

@pytest.mark.parametrize(("mode", "said"), [
    ("stuck", "duplicates of earlier programs"),
    ("prose", "could not be parsed"),
    ("frozen_edit", "broke the frozen protocol"),
])
def test_a_campaign_whose_replies_never_help_stops_by_itself_with_the_cause(in_tmp, mode, said):
    with LoopbackServer(mode=mode) as server:
        outcome, rows = _campaign(f"never-{mode}", server)
        requests = server.httpd.requests
    assert outcome.cause is Stop.NO_PROGRESS and outcome.status == "stopped"
    assert outcome.reason.startswith("no progress: the last 8 proposals gave nothing to train (8 " + said)
    calls = rows["llm_calls"]
    assert len(calls) == requests == outcome.llm_calls  # every call on record
    assert len(calls) <= 8 + 1 + 2  # the streak, one accepted reply (stuck), the calls still in flight
    assert sum(c["operator"] != "seed" for c in rows["candidates"]) == len(calls)  # each reply is a row
    stop = [e for e in rows["events"] if e["kind"] == "no_progress"]
    assert len(stop) == 1 and stop[0]["payload"]["causes"] == {mode_cause(mode): 8}
    stored = [c["reason"].split(":", 1)[0] for c in rows["candidates"]
              if c["status"] in ("rejected", "constraint_violation")]
    assert len(stored) >= 8 and set(stored) == {mode_cause(mode)}  # each stored reason starts with its kind
    assert mode_cause(mode) in set(Rejection)


def mode_cause(mode: str) -> str:
    return {"stuck": "duplicate", "prose": "unparseable", "frozen_edit": "constraint_violation"}[mode]


def test_the_next_prompt_from_a_parent_names_what_was_wrong_with_the_last_reply(in_tmp):
    with LoopbackServer(mode="stuck") as server:
        outcome, rows = _campaign("feedback", server, budget={"max_evals": 30})
        prompts = list(server.httpd.prompts)
    first_child = min(c["id"] for c in rows["candidates"] if c["operator"] != "seed")
    dup = next(c for c in rows["candidates"] if c["status"] == "rejected")
    assert dup["reason"] == f"duplicate: the same program (up to comments and formatting) as candidate {first_child}"
    told = [p for p in prompts if f"- candidate {dup['id']} " in p]
    assert told, "no later prompt mentions the rejected attempt"
    assert f"rejected: duplicate: the same program (up to comments and formatting) as candidate {first_child}" \
        in told[0]


def test_a_stalled_endpoint_ends_the_campaign_after_the_failed_calls_in_a_row(in_tmp):
    with LoopbackServer(mode="stall", stall_s=5.0) as server:
        outcome, rows = _campaign("stalled", server, llm={"timeout_s": 0.5, "max_fruitless": 40})
    assert outcome.cause is Stop.NO_PROGRESS
    assert outcome.reason.startswith(f"the last {MAX_FAILED_CALLS_IN_A_ROW} LLM calls failed (last error: ")
    calls = rows["llm_calls"]
    assert MAX_FAILED_CALLS_IN_A_ROW <= len(calls) <= MAX_FAILED_CALLS_IN_A_ROW + 1
    assert all(c["error"] and c["candidate_id"] is None for c in calls)


def test_the_llm_call_budget_is_never_exceeded(in_tmp):
    with LoopbackServer() as server:
        outcome, rows = _campaign("calls", server, budget={"max_evals": 30, "max_llm_calls": 5})
        requests = server.httpd.requests
    assert outcome.cause is Stop.SPEND and outcome.status == "finished"
    assert outcome.reason == "LLM-call budget reached (5 calls)"
    assert len(rows["llm_calls"]) == requests == 5
    assert outcome.evals_done == 1 + sum(c["status"] == "ok" for c in rows["candidates"] if c["operator"] != "seed")


def test_the_default_llm_call_budget_follows_the_evaluation_budget():
    assert settings(budget={"max_evals": 7}).budget.llm_call_limit() == 28
    assert settings(budget={"max_evals": 7, "max_llm_calls": 3}).budget.llm_call_limit() == 3


def test_a_fast_useless_endpoint_does_not_spin_while_training_runs(in_tmp):
    # Every evaluation takes 4 s and every reply after the first is a duplicate, for a 9 s campaign: without
    # the guard's backoff the proposers make a call every few milliseconds until the fruitless bound (40)
    # stops them (3,556 calls were seen in one seed's training before there was a guard).
    with LoopbackServer(mode="stuck") as server:
        outcome, rows = _campaign("patient", server, slow_s=4.0, budget={"max_evals": 30, "max_minutes": 0.15},
                                  llm={"fruitless_backoff_s": 0.5, "max_fruitless": 40})
    assert outcome.cause is Stop.BUDGET and outcome.evals_done >= 2
    # waits of 0 + 0.5 + 1 + 2 + 4 s fill the 9 s: a handful of calls (two proposers), not forty
    assert len(rows["llm_calls"]) <= 12, len(rows["llm_calls"])


def test_a_prompt_that_cannot_be_built_is_one_clear_stop(in_tmp):
    with LoopbackServer() as server:
        outcome, rows = _campaign("too-long", server, llm={"max_prompt_chars": 2000})
        requests = server.httpd.requests
    assert outcome.cause is Stop.NO_PROGRESS and outcome.evals_done == 1  # the seed was still trained
    assert outcome.reason.startswith("the prompt for starting program #1 cannot be built: ")
    assert "llm.max_prompt_chars" in outcome.reason
    assert requests == 0 and rows["llm_calls"] == []
    skipped = [e for e in rows["events"] if e["kind"] == "proposal_skipped"]
    assert len(skipped) == 1 and skipped[0]["payload"]["cause"] == "prompt_too_long"


def test_through_the_cli_no_progress_exits_1_and_status_says_why(in_tmp):
    (in_tmp / "c.toml").write_text("[llm]\nmax_fruitless = 5\nfruitless_backoff_s = 0.01\n")
    with LoopbackServer(mode="prose") as server:
        r = run_cli("launch", "--config", "c.toml", "--task", str(TASK_DIR), "--name", "mute", "--smoke",
                    "--max-evals", "6", "--confirm-seeds", "0", "--max-llm-calls", "50", "--model", "openai/offline",
                    "--api-base", server.url, "--json", cwd=in_tmp, timeout=600)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "stopped" and out["cause"] == "no_progress" and out["evaluations"] == 1
    assert out["reason"] == "no progress: the last 5 proposals gave nothing to train (5 could not be parsed)"
    s = run_cli("status", "mute", "--json", cwd=in_tmp)
    status = json.loads(s.stdout)
    assert status["status"] == "stopped" and status["stop_reason"] == out["reason"]
    assert status["max_llm_calls"] == 50 and status["llm_calls"] == out["llm_calls"]
    plain = run_cli("status", "mute", cwd=in_tmp)
    assert "stop_reason" in plain.stdout and "could not be parsed" in plain.stdout
