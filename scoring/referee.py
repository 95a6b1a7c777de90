"""The trusted referee: the process that decides an evaluation's verdict and never runs candidate code.

`python -I -m scoring.referee` reads its job (JSON) on stdin and writes the verdict (JSON) on stdout, which
only the controller reads. It holds the data; the candidate's process (scoring/runner.py) holds the model.
Over the channel (scoring/wire.py) the referee:

- runs the task's frozen block itself, from the seed's text, on the real data files (on the CPU), and
  answers each training-batch request with the next batch of the frozen batch function, counting them:
  nothing beyond the budget is ever sent;
- runs the frozen evaluation function itself for each monitoring request, with a stand-in for the model
  that sends the inputs over and takes logits back, so that loss is computed here, by untouched code;
- stops the training at a monitoring evaluation whose curve cannot win (scoring/prune.py), when the
  controller sent a reference curve;
- after train() returns, sends the final evaluation (scoring/plan.py): windows the candidate never
  received, at the evaluation's batch shape, with the causality probe shuffled in; the fitness, the test
  loss and the probe's verdict are computed here from the logits.
"""

from __future__ import annotations

import json
import math
import secrets
import socket
import sys
import time
import traceback

import numpy as np

from scoring import plan as planning
from scoring import prune, wire
from scoring.result import CAUSAL_LEAK, CRASHED, INTEGRITY_VIOLATION, INVALID_RESULT, OK, OVER_BUDGET, PRUNED

RETURN_TOLERANCE = 1e-4  # train()'s claimed best loss may differ from the recorded one by rounding only


class Verdict(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class RemoteModel:
    """What the frozen evaluation function is given for `model`: calling it asks the candidate for logits.

    It answers the calls a frozen evaluation makes of a model (`model(x)`, `.training`, `.eval()`,
    `.train(flag)`); the candidate's side puts the real model in eval mode around each evaluation.
    """

    def __init__(self, forward):
        self._forward = forward
        self.training = True

    def __call__(self, x):
        return self._forward(x)

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def __getattr__(self, name):
        raise AttributeError(f"the frozen evaluation uses model.{name}, which the trusted referee cannot serve "
                             "(it may only call the model and use .training / .eval() / .train())")


def _cpu_only() -> None:
    """The frozen block picks its device; here every tensor stays on the CPU, whatever the host has."""
    import torch

    torch.set_num_threads(1)  # the candidate's training gets the cores
    torch.cuda.is_available = lambda: False
    if hasattr(torch.backends, "mps"):
        torch.backends.mps.is_available = lambda: False


class Referee:
    def __init__(self, job: dict, sock: socket.socket):
        self.job, self.sock = job, sock
        self.t_start = time.time()
        _cpu_only()
        self.ns: dict = {"__name__": "__evolve_frozen__"}
        exec(compile(job["frozen_source"], "<frozen block>", "exec"), self.ns)
        n = job["names"]
        self.T, self.B, self.V = (int(self.ns[n[k]]) for k in ("context", "batch_size", "vocab"))
        self.n_eval_batches = int(self.ns[n["eval_iters"]])
        self.budget, self.max_evals = int(self.ns[job["budget_name"]]), int(self.ns[job["max_evals_name"]])
        self.get_batch, self.estimate_loss = self.ns[job["batch_function"]], self.ns[job["eval_function"]]
        self.out: dict = {"steps": 0, "vloss_history": [], "vloss_steps": [], "finished": False}
        self.losses: list[float] = []
        self.violation: str | None = None
        self.over_budget: str | None = None  # why training passed the task's compute cap
        self.secret = secrets.randbits(62)  # the probes' seed: drawn here, never sent, fresh per evaluation
        self.t_train: float | None = None
        self.pruning = prune.Rule.from_json(job["prune"]) if job.get("prune") else None

    # ---- the candidate's requests while train() runs ----

    def ask_logits(self, x) -> object:
        """Send one evaluation batch, return the candidate's logits as a float64 tensor, checked."""
        import torch

        x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.int64)
        wire.send(self.sock, "forward", (x,))
        header, arrays = wire.recv(self.sock)
        if header["kind"] == "failed":
            raise _Failed(header)
        if header["kind"] != "logits" or len(arrays) != 1:
            raise Verdict(INTEGRITY_VIOLATION, f"the candidate's process answered an evaluation batch with "
                                               f"{header['kind']!r} instead of logits")
        logits = arrays[0]
        want = (*x.shape, self.V)
        if tuple(logits.shape) != want or logits.dtype.kind != "f":
            raise Verdict(INVALID_RESULT, f"model(x) returned {logits.dtype.name} logits of shape "
                                          f"{tuple(logits.shape)}, expected {want}")
        return torch.from_numpy(logits.astype(np.float64))

    def serve_batch(self) -> None:
        if self.out["steps"] >= self.budget:
            self.refuse(f"drew more than {self.job['budget_name']}={self.budget} training batches")
            return
        over = self.over_cap(self.out["steps"] + 1)
        if over:
            self.over_budget = self.over_budget or over
            wire.send(self.sock, "refused", reason=over)
            return
        x, y = self.get_batch()
        self.out["steps"] += 1
        wire.send(self.sock, "batch", (x.cpu().numpy(), y.cpu().numpy()))

    def serve_eval(self) -> None:
        if len(self.losses) >= self.max_evals:
            self.refuse(f"called {self.job['eval_function']} more than {self.job['max_evals_name']}="
                        f"{self.max_evals} times")
            return
        value = self.estimate_loss(RemoteModel(self.ask_logits))
        loss = float(value.item() if hasattr(value, "item") else value)
        self.losses.append(loss)
        self.out["vloss_history"].append(loss if math.isfinite(loss) else None)
        self.out["vloss_steps"].append(self.out["steps"])  # training batches served before this evaluation
        why = prune.decide(self.pruning, self.budget, self.out["vloss_steps"], self.losses) if self.pruning else None
        if why:
            self.out["elapsed_s"] = time.perf_counter() - (self.t_train or time.perf_counter())  # training so far
            wire.send(self.sock, "pruned", reason=why)  # the candidate's process ends itself; the verdict is this
            raise Verdict(PRUNED, why)
        wire.send(self.sock, "evaluated", loss=loss)

    def over_cap(self, steps: int) -> str | None:
        """Why `steps` training steps pass the task's compute cap (FLOPs as counted at the first step, or
        seconds of training on this clock), or None; with the lowest monitoring loss reached so far."""
        flops_cap, step = self.job.get("max_train_flops"), self.out.get("step_flops")
        seconds_cap = self.job.get("max_train_seconds")
        why = None
        if flops_cap and step is not None and steps * step > flops_cap:
            why = f"{steps} training steps of {step:.3g} FLOPs pass max_train_flops={flops_cap:.3g}"
        elif seconds_cap and self.t_train is not None and time.perf_counter() - self.t_train > seconds_cap:
            why = f"training passed max_train_seconds={seconds_cap:g} after {self.out['steps']} steps"
        if why is None:
            return None
        finite = [v for v in self.losses if math.isfinite(v)]
        return why + (f" (lowest validation loss by then {min(finite):.4f})" if finite else "")

    def note_flops(self, header: dict) -> None:
        """The first training step's FLOPs, as the candidate's process counted them (torch's counter, from
        the first batch to the second): taken once, at the second batch request or at train()'s return."""
        value = header.get("step_flops")
        if "step_flops" in self.out or self.out["steps"] < 1 or not isinstance(value, (int, float)) \
                or isinstance(value, bool) or not math.isfinite(value) or value < 0:
            return
        self.out["step_flops"] = float(value)

    def refuse(self, reason: str) -> None:
        self.violation = self.violation or reason
        wire.send(self.sock, "refused", reason=reason)

    # ---- after train() ----

    def check_return(self, value: dict) -> None:
        kind, claimed = value.get("type"), value.get("claimed")
        if kind not in ("tuple", "list") or value.get("len") != 2:
            got = f"a {value.get('len')}-tuple" if kind in ("tuple", "list") else str(kind)
            raise Verdict(INVALID_RESULT, f"train() returned {got}, expected (best_vloss, elapsed_min)")
        if not isinstance(claimed, (int, float)) or isinstance(claimed, bool):
            raise Verdict(INVALID_RESULT, f"train() returned best_vloss of type {value.get('claimed_type')}, "
                                          "expected a number")
        claimed = float(claimed)
        self.out["returned_vloss"] = claimed
        if not math.isfinite(claimed):
            raise Verdict(INVALID_RESULT, f"train() returned best_vloss = {claimed}")
        if not value.get("elapsed_ok"):
            raise Verdict(INVALID_RESULT, f"train() returned elapsed_min of type {value.get('elapsed_type')}")
        finite = [v for v in self.losses if math.isfinite(v)]
        if not self.losses:
            raise Verdict(INVALID_RESULT, "train() never called the frozen evaluation function, so it has no "
                                          "validation loss")
        if not finite:
            raise Verdict(INVALID_RESULT, f"every validation loss was non-finite ({self.losses[-1]})")
        if abs(claimed - min(finite)) > RETURN_TOLERANCE:
            raise Verdict(INTEGRITY_VIOLATION, f"train() returned best_vloss {claimed:.4f} but the lowest "
                                               f"validation loss the frozen evaluation computed was "
                                               f"{min(finite):.4f}")

    def final_evaluation(self) -> None:
        """Fitness, test loss and probe on the model train() leaves, from windows it never received."""
        import torch

        t0 = time.perf_counter()
        p = self.plan()
        reader = planning.Reader(p, self.V, self.secret + 1)  # one batch of log-probabilities in memory at a time
        for i, xb in enumerate(p.batches()):
            logits = self.ask_logits(xb)
            reader.add(i * p.batch, torch.log_softmax(logits, dim=-1).numpy())
            del logits
        reading = reader.reading()
        self.out.update(best_vloss=reading.fitness, test_loss=reading.test, final_eval_s=time.perf_counter() - t0,
                        monitor_windows_unlocated=p.overlaps_unknown)
        if not math.isfinite(reading.fitness):
            raise Verdict(INVALID_RESULT, f"the final validation loss is {reading.fitness}")
        if reading.problem:
            raise Verdict(CAUSAL_LEAK if reading.problem_kind == "causal" else INTEGRITY_VIOLATION,
                          reading.problem)

    def plan(self) -> planning.Plan:
        """The fitness and test windows are fixed for the task (the monitoring windows they avoid are found by
        running its frozen evaluation locally); the probes and the sending order come from this evaluation's
        secret seed."""
        import torch

        shown = []

        def record(x):
            shown.append(np.asarray(x.cpu().numpy(), dtype=np.int64))
            return torch.zeros((*x.shape, self.V))

        self.estimate_loss(RemoteModel(record))
        dtype = np.dtype(self.job["dtype"])
        val = np.fromfile(self.job["val_path"], dtype=dtype)
        test = np.fromfile(self.job["test_path"], dtype=dtype)
        monitor = np.concatenate(shown) if shown else np.zeros((0, self.T), np.int64)
        return planning.build(val, test, monitor, self.T, self.B, self.n_eval_batches, self.secret)

    # ---- the conversation ----

    def run(self) -> None:
        """Serve the candidate until it reports train()'s return value, then score its model."""
        while True:
            header, _ = wire.recv(self.sock)
            kind = header["kind"]
            if kind == "hello" and "confinement" not in self.out and self.t_train is None:
                # the runner's facts, sent before any candidate code ran; a later "hello" is forged
                self.out["confinement"] = {k: header.get(k) for k in ("fs_readonly", "data_hidden",
                                                                      "confine_failures")}
            elif kind == "begin":
                self.t_train = time.perf_counter()
                self.out["startup_s"] = time.time() - self.job["spawned_at"]
                self.out["device"] = header.get("device")
            elif kind == "batch":
                self.note_flops(header)
                self.serve_batch()
            elif kind == "eval":
                self.serve_eval()
            elif kind == "failed":
                raise _Failed(header)
            elif kind == "returned":
                self.out["elapsed_s"] = time.perf_counter() - (self.t_train or time.perf_counter())
                self.note_flops(header)
                self.out["peak_mem_mb"] = header.get("peak_mem_mb")
                if self.violation:
                    raise Verdict(INTEGRITY_VIOLATION, self.violation)
                self.over_budget = self.over_budget or self.over_cap(self.out["steps"])
                if self.over_budget:
                    raise Verdict(OVER_BUDGET, self.over_budget)
                try:
                    self.check_return(header.get("value") or {})
                except Verdict:
                    if self.losses:  # the model's real figures are recorded beside a false claim
                        self.final_evaluation()
                    raise
                self.final_evaluation()
                return
            else:
                raise Verdict(INTEGRITY_VIOLATION, f"the candidate's process sent {kind!r} out of turn")


class _Failed(Exception):
    """The candidate's side reported a failure (its crash, or a tripwire it hit)."""

    def __init__(self, header: dict):
        super().__init__(header.get("reason", ""))
        self.header = header


def judge(job: dict, sock: socket.socket) -> dict:
    ref = None
    try:
        ref = Referee(job, sock)
        ref.run()
        ref.out.update(status=OK, reason="", finished=True)
    except Verdict as v:
        ref.out.update(status=v.status, reason=v.reason, finished=True)
    except _Failed as f:
        status = f.header.get("status") if f.header.get("status") in (CRASHED, INTEGRITY_VIOLATION) else CRASHED
        if ref.violation:  # a refused request came first: that is the verdict, whatever followed
            status, reason = INTEGRITY_VIOLATION, ref.violation
        elif ref.over_budget:  # the refusal the runner reports is the compute cap's
            status, reason = OVER_BUDGET, ref.over_budget
        else:
            reason = str(f.header.get("reason", ""))[:2000]
        ref.out.update(status=status, reason=reason, finished=True, peak_mem_mb=f.header.get("peak_mem_mb"))
    except wire.Closed:
        pass  # the candidate's process ended first: the controller knows why (timeout, crash, exit)
    except wire.ProtocolError as e:
        ref.out.update(status=INTEGRITY_VIOLATION, reason=f"the candidate's process broke the scoring protocol: "
                                                           f"{e}", finished=True)
    except Exception as e:  # the frozen code failed on what the candidate sent (e.g. logits it cannot use)
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        if ref is None:
            return {"status": CRASHED, "reason": f"the referee could not run the frozen block: {detail}",
                    "finished": True}
        ref.out.update(status=CRASHED, reason=f"the frozen evaluation failed on the model's answer: {detail}",
                       finished=True)
    finally:
        try:
            wire.send(sock, "end")
        except OSError:
            pass
    if ref.violation and ref.out.get("status") == OK:
        ref.out.update(status=INTEGRITY_VIOLATION, reason=ref.violation)
    ref.out["referee_s"] = time.time() - ref.t_start
    if ref.out.get("step_flops") is not None:
        ref.out["train_flops"] = ref.out["step_flops"] * ref.out["steps"]
    return ref.out


def main() -> None:
    job = json.loads(sys.stdin.read())
    sock = socket.socket(fileno=int(job["fd"]))
    out = judge(job, sock)
    sock.close()
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
