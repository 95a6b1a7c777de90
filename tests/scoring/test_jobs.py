"""The jobs and the verdict that cross the evaluation's process boundaries: typed values with a strict wire form."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from scoring import api, referee
from scoring.jobs import Confinement, EvaluatorJob, RefereeJob, RunnerJob, Verdict
from scoring.prune import Rule
from scoring.result import CRASHED, OK, Status
from scoring.sandbox import ChildOutcome
from scoring.strict import Mismatch

VERDICT = Verdict(finished=True, status=Status.OK, reason="", steps=12, vloss_history=(3.1, None, 2.9),
                  vloss_steps=(0, 5, 10), best_vloss=2.95, returned_vloss=2.9, test_loss=3.0, elapsed_s=4.5,
                  startup_s=0.7, final_eval_s=1.2, peak_mem_mb=300.5, device="cpu",
                  confinement=Confinement(True, True, ()), step_flops=1e9, train_flops=1.2e10, referee_s=7.0,
                  referee_rss_mb=250.0)


def _through_json(value: dict) -> dict:
    return json.loads(json.dumps(value))


def test_a_verdict_goes_over_the_wire_and_comes_back_equal():
    wire = VERDICT.to_wire()
    assert wire["status"] == "ok" and wire["vloss_history"] == [3.1, None, 2.9]
    back = Verdict.from_wire(_through_json(wire))
    assert back == VERDICT and back.status is Status.OK and isinstance(back.vloss_steps, tuple)


def test_the_jobs_go_over_the_wire_and_come_back_equal():
    rule = Rule(0.25, 0.3, 7, (0, 10, 20), (3.0, math.nan, 2.5))
    job = RefereeJob(fd=5, evaluator_fds=(6, 7), frozen_source="X = 1", spawned_at=1.5, eval_function="e",
                     batch_function="b", budget_name="N", max_evals_name="M", context_name="T", batch_size_name="B",
                     vocab_name="V", eval_iters_name="I", val_path="/v", fitness_start=100, test_path="/t",
                     dtype="uint16", max_train_flops=None, max_train_seconds=30.0, prune=rule)
    back = RefereeJob.from_wire(_through_json(job.to_wire()))
    assert back.prune.steps == (0, 10, 20) and math.isnan(back.prune.losses[1])
    assert back.max_train_seconds == 30.0 and back.evaluator_fds == (6, 7)
    runner = RunnerJob("/r", "train_mps", "train", "e", "b", "DEVICE", ("A",), "A = 1", None, 256, True, ("/r",),
                       ("/d",), ())
    assert RunnerJob.from_wire(_through_json(runner.to_wire())) == runner
    evaluator = EvaluatorJob("/r", ("/r",), False, 2048, 256, True)
    assert EvaluatorJob.from_wire(_through_json(evaluator.to_wire())) == evaluator


@pytest.mark.parametrize(("edit", "message"), [
    (lambda w: w.update(verdict="ok"), "the Verdict: unknown key 'verdict'"),
    (lambda w: w.pop("steps"), "the Verdict: 'steps' is missing"),
    (lambda w: w.pop("confinement"), "the Verdict: 'confinement' is missing"),
    (lambda w: w.update(steps="12"), "the Verdict: 'steps' must be int, got str"),
    (lambda w: w.update(steps=True), "the Verdict: 'steps' must be int, got bool"),
    (lambda w: w.update(finished=1), "the Verdict: 'finished' must be bool, got int"),
    (lambda w: w.update(status="great"), "'status' must be one of 'ok', "),
    (lambda w: w.update(status=["ok"]), "'status' must be one of 'ok', "),
    (lambda w: w.update(vloss_history=[1.0, "x"]),
     "'vloss_history' must be a list of numbers or nulls, got a list with str in it"),
    (lambda w: w.update(vloss_steps=3), "'vloss_steps' must be a list of integers, got int"),
    (lambda w: w.update(best_vloss=10**400), "'best_vloss' is a number too large for a float"),
    (lambda w: w["confinement"].update(fs_readonly="yes"), "the Verdict [confinement]: 'fs_readonly' must be bool"),
    (lambda w: w["confinement"].update(extra=1), "the Verdict [confinement]: unknown key 'extra'"),
])
def test_a_malformed_verdict_is_refused_with_one_line_naming_the_key(edit, message):
    wire = _through_json(VERDICT.to_wire())
    edit(wire)
    with pytest.raises(Mismatch) as err:
        Verdict.from_wire(wire)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_verdict_that_is_not_a_table_is_refused():
    with pytest.raises(Mismatch, match="expected a table of keys, got a list"):
        Verdict.from_wire([])


def _controller_reads(stdout: str, tmp_path) -> tuple[Verdict | None, str | None]:
    """What the controller makes of a referee process that writes `stdout` as its verdict."""
    script = f"import sys; sys.stdin.readline(); sys.stdout.write({stdout!r})"
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    (tmp_path / "referee.log").write_text("")
    ref = api._Referee(proc, "{}", tmp_path / "referee.log")
    ref.gone()
    return ref.verdict(30)


def test_the_controller_treats_a_malformed_verdict_as_no_verdict(tmp_path):
    assert _controller_reads(json.dumps(VERDICT.to_wire()), tmp_path) == (VERDICT, None)
    wire = VERDICT.to_wire()
    wire["steps"] = "many"
    verdict, problem = _controller_reads(json.dumps(wire), tmp_path)
    assert verdict is None and problem.startswith("the trusted referee returned a malformed verdict: ")
    assert "'steps' must be int" in problem
    assert _controller_reads("[1, 2]", tmp_path) == (None, "the trusted referee returned no verdict")
    verdict, problem = _controller_reads("not json", tmp_path)
    assert verdict is None and problem.startswith("the trusted referee failed (exit 0)")


def test_no_verdict_is_a_crash_that_says_why():
    """A verdict the controller could not read gives the result a process without a verdict gets."""
    outcome = ChildOutcome(returncode=0, timed_out=False, interrupted=False, wall_s=1.0, stdout_bytes=0,
                           stderr_bytes=0, stragglers_killed=0)
    halt = api._Halt(referee=None, stop=None)
    logs = api._Logs(api.Path("/nonexistent/stdout.log"), api.Path("/nonexistent/stderr.log"))
    got = api._result(None, "the trusted referee returned a malformed verdict: x", outcome, halt, 10.0, logs,
                      seed=1, **api._figures(None, outcome, []))
    assert (got.status, got.reason) == (CRASHED, "the trusted referee returned a malformed verdict: x")
    assert got.steps is None and got.best_vloss is None
    ok = api._result(VERDICT, None, outcome, halt, 10.0, logs, seed=1, **api._figures(VERDICT, outcome, []))
    assert (ok.status, ok.best_vloss, ok.steps, ok.vloss_history[1]) == (OK, 2.95, 12, ok.vloss_history[1])
    assert math.isnan(ok.vloss_history[1])


def test_what_the_candidates_process_reports_is_typed_before_it_reaches_the_verdict():
    """Figures the candidate's process sends (its memory, its confinement facts) can only be dropped, never
    make the referee's verdict malformed."""
    assert referee._megabytes("lots") is None and referee._megabytes(10**400) is None
    assert referee._megabytes(float("nan")) is None and referee._megabytes(-1) is None
    assert referee._megabytes(True) is None and referee._megabytes(123.456) == 123.5
    facts = Confinement.from_hello({"fs_readonly": "yes", "data_hidden": True, "confine_failures": "x"})
    assert facts == Confinement(None, True, ())
    facts = Confinement.from_hello({"fs_readonly": False, "confine_failures": [1, "b"] * 10,
                                    "syscalls_denied": "yes"})
    assert facts == Confinement(False, None, ("1", "b", "1", "b", "1"), None)
    assert Confinement.from_hello({"syscalls_denied": True}).syscalls_denied is True
    tally = referee._Tally(peak_mem_mb=referee._megabytes({"a": 1}), confinement=facts)
    verdict = tally.verdict(finished=True, status=Status.CRASHED, reason="r", started=0.0)
    assert Verdict.from_wire(_through_json(verdict.to_wire())) == verdict
