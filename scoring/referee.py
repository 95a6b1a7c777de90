"""The trusted referee: the process that decides an evaluation's verdict and never runs candidate code.

`python -I -m scoring.referee` reads its job (one JSON line) on stdin and writes the verdict (JSON) on stdout,
which only the controller reads. It holds the data; the candidate's process (scoring/runner.py) holds the
model while it trains. Over the channel (scoring/wire.py, every message read against a schema for the
moment) the referee:

- runs the task's frozen block itself, from the seed's text, on the monitoring part of the data
  (scoring/data.py, on the CPU), and answers each training-batch request with the next batch of the frozen
  batch function, counting them: nothing beyond the budget is ever sent;
- runs the frozen evaluation function itself for each monitoring request, with a stand-in for the model
  (scoring/remote.py) that sends the inputs over and takes back each position's log-sum-exp and the
  target's logit, committed to and audited (scoring/logits.py), so that loss is computed here, by untouched
  code;
- stops the training at a monitoring evaluation whose curve cannot win (scoring/prune.py), when the
  controller sent a reference curve;
- after train() returns, tells the controller it is done with that process (`released` on stdout) and
  waits until it has ended (`gone` on stdin); then the final evaluation (scoring/final.py, scoring/plan.py):
  two fresh processes load the snapshot of the trained model in turn and answer windows the candidate never
  received, with the causality probe split across them; the fitness, the test loss, the probe's verdict and
  the training FLOPs are worked out here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from scoring import final, logits, prune, wire
from scoring import plan as planning
from scoring.jobs import Confinement, RefereeJob, Verdict
from scoring.remote import RemoteModel
from scoring.result import CAUSAL_LEAK, CRASHED, INTEGRITY_VIOLATION, INVALID_RESULT, OK, OVER_BUDGET, PRUNED, Status

RETURN_TOLERANCE = 1e-4  # train()'s claimed best loss may differ from the recorded one by rounding only
# What the candidate's process may send while train() runs: no arrays at all (logits come only when asked).
TRAINING: wire.Schema = {kind: () for kind in ("hello", "begin", "batch", "eval", "failed", "returned")}
REFEREE_HEADROOM = 1 << 30  # bytes beyond the logits it holds: the plan, the reading, numpy and torch temporaries
RELEASED, GONE = "released\n", "gone"  # lines to and from the controller (scoring/api.py) on stdout / stdin


class Decided(Exception):
    """The verdict is decided: raised where it is, read once by `judge`."""

    def __init__(self, status: Status, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def _limit_memory(logits_bytes: int) -> None:
    """This process runs outside every limit the sandbox sets: cap its address space at what it has now plus
    what the logits it may hold at once take (float32 off the wire, a float64 copy, the frozen evaluation's
    temporaries), so that no message, however it is sized, can make it take the machine's memory."""
    import resource

    try:
        with open("/proc/self/statm") as f:
            now = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return  # not Linux: RLIMIT_AS is not enforced there anyway
    limit = now + REFEREE_HEADROOM + 6 * logits_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _cpu_only() -> None:
    """The frozen block picks its device; here every tensor stays on the CPU, whatever the host has."""
    import torch

    torch.set_num_threads(1)  # the candidate's training gets the cores
    torch.cuda.is_available = lambda: False
    if hasattr(torch.backends, "mps"):
        torch.backends.mps.is_available = lambda: False


class Referee:
    def __init__(self, job: RefereeJob, sock: socket.socket):
        self.job, self.sock = job, sock
        self.t_start = time.time()
        _cpu_only()
        self.ns: dict = {"__name__": "__evolve_frozen__"}
        exec(compile(job.frozen_source, "<frozen block>", "exec"), self.ns)
        self.T, self.B, self.V = (int(self.ns[n]) for n in (job.context_name, job.batch_size_name, job.vocab_name))
        self.n_eval_batches = int(self.ns[job.eval_iters_name])
        # at most one message's logits at a time, or one batch's whole logits (scoring/logits.py)
        _limit_memory(max(logits.CHUNK_BYTES, logits.row_bytes(self.T, self.V)) +
                      min(self.B * logits.row_bytes(self.T, self.V), logits.WHOLE_LIMIT))
        self.budget, self.max_evals = int(self.ns[job.budget_name]), int(self.ns[job.max_evals_name])
        self.get_batch, self.estimate_loss = self.ns[job.batch_function], self.ns[job.eval_function]
        self.tally = _Tally()
        self.losses: list[float] = []
        self.violation: str | None = None
        self.over_budget: str | None = None  # why training passed the task's compute cap
        self.secret = secrets.randbits(62)  # the probes' seed: drawn here, never sent, fresh per evaluation
        self.audits = logits.audit_rng(self.secret)  # which positions' whole rows are asked back
        self.t_train: float | None = None  # the referee's clock, from the one `begin`
        self.train_tokens = 0  # tokens in one training batch, for the FLOPs of a step
        self.evaluators = [socket.socket(fileno=fd) for fd in job.evaluator_fds]
        self.seen: set[str] = set()  # message kinds the candidate's process has sent

    # ---- the candidate's requests while train() runs ----

    def asked(self, x: np.ndarray, ids: np.ndarray | None) -> logits.Answer:
        """One monitoring batch's logits from the candidate's process, checked (scoring/logits.py)."""
        try:
            return logits.fetch(self.sock, x, self.V, ids, self.audits)
        except wire.OutOfTurn as e:
            raise Decided(INTEGRITY_VIOLATION, f"the candidate's process answered an evaluation batch with "
                                               f"{e.kind!r} instead of logits") from None
        except logits.Failed as f:
            raise _Failed(f.header) from None
        except (logits.Lied, logits.TooLarge) as e:
            raise Decided(*_exchange_failure(e, "a monitoring evaluation")) from None

    def at(self, x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        got = self.asked(x, ids)
        return got.lse, got.values

    def whole(self, x: np.ndarray) -> np.ndarray:
        return self.asked(x, None).values

    def serve_batch(self) -> None:
        if self.tally.steps >= self.budget:
            self.refuse(f"drew more than {self.job.budget_name}={self.budget} training batches")
            return
        over = self.over_cap(self.tally.steps + 1)
        if over:
            self.over_budget = self.over_budget or over
            wire.send(self.sock, "refused", reason=over)
            return
        x, y = self.get_batch()
        self.tally.steps += 1
        self.train_tokens = self.train_tokens or int(np.prod(tuple(x.shape)))
        wire.send(self.sock, "batch", (x.cpu().numpy(), y.cpu().numpy()))

    def serve_eval(self) -> None:
        if len(self.losses) >= self.max_evals:
            self.refuse(f"called {self.job.eval_function} more than {self.job.max_evals_name}="
                        f"{self.max_evals} times")
            return
        value = self.estimate_loss(RemoteModel(self, self.V))
        loss = float(value.item() if hasattr(value, "item") else value)
        self.losses.append(loss)
        self.tally.vloss_history.append(loss if math.isfinite(loss) else None)
        self.tally.vloss_steps.append(self.tally.steps)  # training batches served before this evaluation
        why = prune.decide(self.job.prune, self.budget, self.tally.vloss_steps, self.losses) if self.job.prune else None
        if why:
            self.tally.elapsed_s = time.perf_counter() - (self.t_train or time.perf_counter())  # training so far
            wire.send(self.sock, "pruned", reason=why)  # the candidate's process ends itself; the verdict is this
            raise Decided(PRUNED, why)
        wire.send(self.sock, "evaluated", loss=loss)

    def over_cap(self, steps: int) -> str | None:
        """Why training passes the task's seconds cap on this clock, or None; with the lowest monitoring
        loss reached so far. (The FLOPs cap is decided after training, from the trusted count: flops_cap.)"""
        seconds_cap = self.job.max_train_seconds
        if not (seconds_cap and self.t_train is not None and time.perf_counter() - self.t_train > seconds_cap):
            return None
        return self.lowest_by(f"training passed max_train_seconds={seconds_cap:g} after {steps} steps", steps)

    def lowest_by(self, why: str, steps: int) -> str:
        finite = [v for v, at in zip(self.losses, self.tally.vloss_steps, strict=True) if math.isfinite(v)
                  and at <= steps]
        return why + (f" (lowest validation loss by then {min(finite):.4f})" if finite else "")

    def flops_cap(self) -> str | None:
        """Why the training's FLOPs, as measured after it, pass the task's cap, or None."""
        cap, step = self.job.max_train_flops, self.tally.step_flops
        if cap and step is None and self.tally.steps:  # counted where the model's code runs: withheld, it fails
            return (f"the final evaluation's process did not report the forward pass's FLOPs, so max_train_flops="
                    f"{cap:.3g} cannot be checked")
        if not cap or self.tally.steps * step <= cap:
            return None
        allowed = int(cap // step) if step > 0 else self.tally.steps
        return self.lowest_by(f"{self.tally.steps} training steps of {step:.3g} FLOPs pass max_train_flops="
                              f"{cap:.3g} (it allows {allowed})", allowed)

    def refuse(self, reason: str) -> None:
        self.violation = self.violation or reason
        wire.send(self.sock, "refused", reason=reason)

    # ---- after train() ----

    def check_return(self, value: dict) -> None:
        """train()'s return, as the runner described it: (best_vloss, elapsed_min), where best_vloss is the
        lowest monitoring loss this referee computed."""
        claimed = _claimed_loss(value)
        self.tally.returned_vloss = claimed
        if not math.isfinite(claimed):
            raise Decided(INVALID_RESULT, f"train() returned best_vloss = {claimed}")
        if not value.get("elapsed_ok"):
            raise Decided(INVALID_RESULT, f"train() returned elapsed_min of type {value.get('elapsed_type')}")
        finite = [v for v in self.losses if math.isfinite(v)]
        if not self.losses:
            raise Decided(INVALID_RESULT, "train() never called the frozen evaluation function, so it has no "
                                          "validation loss")
        if not finite:
            raise Decided(INVALID_RESULT, f"every validation loss was non-finite ({self.losses[-1]})")
        if abs(claimed - min(finite)) > RETURN_TOLERANCE:
            raise Decided(INTEGRITY_VIOLATION, f"train() returned best_vloss {claimed:.4f} but the lowest "
                                               f"validation loss the frozen evaluation computed was "
                                               f"{min(finite):.4f}")

    def final_evaluation(self) -> None:
        """Fitness, test loss and probe on the model train() left, from windows it never received, answered by
        two fresh processes started from its snapshot once the candidate's process has ended (scoring/final.py)."""
        self.release()
        try:
            done = final.run(self.plan(), self.V, self.secret + 1, self.evaluators)
        except (final.EvaluatorFailed, final.NoSnapshot, final.EvaluatorGone, logits.Lied, logits.TooLarge) as e:
            raise Decided(*_final_failure(e)) from None
        reading = done.reading
        self.tally.best_vloss, self.tally.test_loss = reading.fitness, reading.test
        self.tally.final_eval_s = time.perf_counter() - self.t_returned
        if done.forward_flops is not None and self.train_tokens and done.counted_tokens:
            # a training step is about three forward passes (the backward pass twice one); scaled from the
            # counted message's tokens to a training batch's
            self.tally.step_flops = 3 * done.forward_flops * self.train_tokens / done.counted_tokens
        if not math.isfinite(reading.fitness):
            raise Decided(INVALID_RESULT, f"the final validation loss is {reading.fitness}")
        if reading.problem:
            raise Decided(CAUSAL_LEAK if reading.problem_kind == "causal" else INTEGRITY_VIOLATION,
                          reading.problem)

    def release(self) -> None:
        """Tell the controller this referee is done with the candidate's process, and wait until it has ended
        (the controller answers once its whole process group and namespace are gone)."""
        sys.stdout.write(RELEASED)
        sys.stdout.flush()
        if sys.stdin.readline().strip() != GONE:
            raise wire.Closed("the controller went away")

    def plan(self) -> planning.Plan:
        """The fitness windows come from the validation split's fitness part (a different document from the
        part the frozen block, and so the monitoring, reads: scoring/data.py); they and the test windows are
        fixed for the task; the sides, the probes and the sending order come from this evaluation's secret."""
        dtype = np.dtype(self.job.dtype)
        val = np.fromfile(self.job.val_path, dtype=dtype)[self.job.fitness_start:]
        test = np.fromfile(self.job.test_path, dtype=dtype)
        return planning.build(val, test, self.T, self.B, self.n_eval_batches, self.secret)

    # ---- the conversation ----

    def run(self) -> None:
        """Serve the candidate until it reports train()'s return value, then score its model."""
        while True:
            try:
                header, _ = wire.recv(self.sock, TRAINING)
            except wire.OutOfTurn as e:
                raise Decided(INTEGRITY_VIOLATION, f"the candidate's process sent {e.kind!r} out of turn") from None
            kind = header["kind"]
            self.turn(kind)
            if kind == "hello":  # the runner's facts, sent before any candidate code ran
                self.tally.confinement = Confinement.from_hello(header)
                self.tally.device = str(header.get("device"))[:40]
            elif kind == "begin":
                self.t_train = time.perf_counter()
                self.tally.startup_s = time.time() - self.job.spawned_at
            elif kind == "batch":
                self.serve_batch()
            elif kind == "eval":
                self.serve_eval()
            elif kind == "failed":
                raise _Failed(header)
            else:  # returned
                self.returned(header)
                return

    def turn(self, kind: str) -> None:
        """`hello` only first, `begin` once after it, everything else after `begin`: out of turn otherwise."""
        first = not self.seen
        self.seen.add(kind)
        if kind == "hello" and first or kind == "failed":
            return
        if kind == "begin" and self.seen == {"hello", "begin"} and self.t_train is None:
            return
        if kind not in ("hello", "begin") and self.t_train is not None:
            return
        raise Decided(INTEGRITY_VIOLATION, f"the candidate's process sent {kind!r} out of turn"
                      + (" (the training clock starts once)" if kind == "begin" else ""))

    def returned(self, header: dict) -> None:
        self.t_returned = time.perf_counter()  # the final evaluation's cost runs from here: the release included
        self.tally.elapsed_s = self.t_returned - self.t_train
        self.tally.peak_mem_mb = _megabytes(header.get("peak_mem_mb"))
        if self.violation:
            raise Decided(INTEGRITY_VIOLATION, self.violation)
        self.over_budget = self.over_budget or self.over_cap(self.tally.steps)
        if self.over_budget:
            raise Decided(OVER_BUDGET, self.over_budget)
        if header.get("unsaved"):
            raise Decided(CRASHED, str(header["unsaved"])[:600])
        try:
            self.check_return(header.get("value") or {})
        except Decided:
            if self.losses:  # the model's real figures are recorded beside a false claim
                self.final_evaluation()
            raise
        self.final_evaluation()
        over = self.flops_cap()
        if over:
            self.tally.best_vloss = self.tally.test_loss = None
            raise Decided(OVER_BUDGET, over)


def _claimed_loss(value: dict) -> float:
    """The best_vloss train() returned, if it returned a pair whose first item is a number."""
    kind, claimed = value.get("type"), value.get("claimed")
    if kind not in ("tuple", "list") or value.get("len") != 2:
        got = f"a {value.get('len')}-tuple" if kind in ("tuple", "list") else str(kind)
        raise Decided(INVALID_RESULT, f"train() returned {got}, expected (best_vloss, elapsed_min)")
    if not isinstance(claimed, (int, float)) or isinstance(claimed, bool):
        raise Decided(INVALID_RESULT, f"train() returned best_vloss of type {value.get('claimed_type')}, "
                                      "expected a number")
    return float(claimed)


def _exchange_failure(e: Exception, where: str) -> tuple[str, str]:
    """The verdict for a logits exchange that did not hold (scoring/logits.py)."""
    if isinstance(e, logits.TooLarge):
        return CRASHED, f"the task is too large for the referee: {e}"
    return INTEGRITY_VIOLATION, f"in {where}, {e}"


def _final_failure(e: Exception) -> tuple[str, str]:
    """The verdict for a final evaluation that could not be read (scoring/final.py)."""
    if isinstance(e, final.NoSnapshot):
        return INTEGRITY_VIOLATION, ("train()'s return was reported but no snapshot of the model was saved: the "
                                     "runner did not send that 'returned'")
    if isinstance(e, final.EvaluatorGone):
        return CRASHED, f"{e} (killed at its timeout, or crashed)"
    if isinstance(e, final.EvaluatorFailed):
        return CRASHED, str(e)
    return _exchange_failure(e, "the final evaluation")


class _Failed(Exception):
    """The candidate's side reported a failure (its crash, or a tripwire it hit)."""

    def __init__(self, header: dict):
        super().__init__(header.get("reason", ""))
        self.header = header


def judge(job: RefereeJob, sock: socket.socket) -> Verdict:
    """The verdict on the evaluation this referee serves: the one place it is decided."""
    try:
        try:
            ref = Referee(job, sock)
        except Exception as e:  # the task's own frozen block failed here, before any candidate message
            return Verdict(finished=True, status=CRASHED,
                           reason=f"the referee could not run the frozen block: {_error(e)}")
        decided = _decide(ref)
    finally:
        try:
            wire.send(sock, "end")
        except OSError:
            pass
    if decided is None:  # the candidate's process ended first: the controller knows why (timeout, crash, exit)
        return ref.tally.verdict(finished=False, status=None, reason="", started=ref.t_start)
    status, reason = decided
    if ref.violation and status == OK:
        status, reason = INTEGRITY_VIOLATION, ref.violation
    return ref.tally.verdict(finished=True, status=status, reason=reason, started=ref.t_start)


def _decide(ref: Referee) -> tuple[Status, str] | None:
    """Serve the candidate and score its model: (status, reason), or None when its process ended first."""
    try:
        ref.run()
        return OK, ""
    except Decided as v:
        return v.status, v.reason
    except _Failed as f:
        return _reported_failure(ref, f.header)
    except wire.Closed:
        return None
    except wire.ProtocolError as e:
        return INTEGRITY_VIOLATION, f"the candidate's process broke the scoring protocol: {e}"
    except Exception as e:  # the frozen code failed on what the candidate sent (e.g. logits it cannot use)
        return CRASHED, f"the frozen evaluation failed on the model's answer: {_error(e)}"


def _reported_failure(ref: Referee, header: dict) -> tuple[Status, str]:
    """The verdict when the candidate's side reports a failure: a refusal of this referee's comes first."""
    ref.tally.peak_mem_mb = _megabytes(header.get("peak_mem_mb"))
    if ref.violation:  # a refused request came first: that is the verdict, whatever followed
        return INTEGRITY_VIOLATION, ref.violation
    if ref.over_budget:  # the refusal the runner reports is the compute cap's
        return OVER_BUDGET, ref.over_budget
    status = header.get("status")
    status = Status(status) if status in (CRASHED, INTEGRITY_VIOLATION, INVALID_RESULT) else CRASHED
    return status, str(header.get("reason", ""))[:2000]


@dataclass
class _Tally:
    """What the referee counts and measures as the evaluation goes; the verdict is made of it."""

    steps: int = 0
    vloss_history: list[float | None] = field(default_factory=list)
    vloss_steps: list[int] = field(default_factory=list)
    best_vloss: float | None = None
    returned_vloss: float | None = None
    test_loss: float | None = None
    elapsed_s: float | None = None
    startup_s: float | None = None
    final_eval_s: float | None = None
    peak_mem_mb: float | None = None
    device: str | None = None
    confinement: Confinement | None = None
    step_flops: float | None = None

    def verdict(self, *, finished: bool, status: Status | None, reason: str, started: float) -> Verdict:
        figures = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        figures.update(vloss_history=tuple(self.vloss_history), vloss_steps=tuple(self.vloss_steps))
        train_flops = self.step_flops * self.steps if self.step_flops is not None else None
        return Verdict(finished=finished, status=status, reason=reason, train_flops=train_flops,
                       referee_s=time.time() - started, referee_rss_mb=_rss_mb(), **figures)


def _megabytes(value: object) -> float | None:
    """A memory figure the candidate's process reported: a finite non-negative number, or nothing."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return round(value, 1) if math.isfinite(value) and value >= 0 else None


def _error(e: BaseException) -> str:
    return traceback.format_exception_only(type(e), e)[-1].strip()


def _rss_mb() -> float:
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def main() -> None:
    job = RefereeJob.from_wire(json.loads(sys.stdin.readline()))  # one line; later ones say when to go on
    sock = socket.socket(fileno=job.fd)
    verdict = judge(job, sock)
    sock.close()
    sys.stdout.write(json.dumps(verdict.to_wire()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
