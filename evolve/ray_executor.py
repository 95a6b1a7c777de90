"""Evaluations on a Ray cluster: each one a Ray task that runs the same sandboxed `scoring.api.score`.

What crosses to a worker: the task (manifest and seed files, put in the object store once per campaign),
the candidate's files as strings, the seed and the run folder's absolute path. What does not cross: the
prepared dataset. A worker reads it from its own corpus cache (`EVOLVE_CACHE`), so every node must see a
prepared dataset at that path: a shared volume (docker-compose does this), or `evolve data prepare` run once
on each node. Run logs are written under the job's run folder on the worker's node; nodes that share the
populations folder at the same absolute path (as the compose file mounts it) keep them beside the campaign.

Resources: an evaluation asks for one GPU when the cluster has GPUs, else one unit of the custom resource
`mps` (Apple-silicon nodes join with `ray start --resources '{"mps": N}'`, N evaluations sharing that GPU),
else an equal share of the cluster's CPUs. The campaign loop sees the usual executor interface: `slots`,
`submit`, `stop_now`, `shutdown`, plus `take_events()`, the infrastructure events it records.

A worker that dies mid-evaluation (killed, out of memory, its node lost), or a node that cannot evaluate
(no prepared dataset there), is not the candidate's fault: the evaluation is re-run in a fresh run folder,
at most MAX_RETRIES times, and each retry is reported as a `retry` event. Past that bound the evaluation
comes back `crashed` with the reason, so a campaign never loops on a bad node.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from evolve.executors import Job
from scoring.api import score
from scoring.errors import InputError
from scoring.prune import Rule
from scoring.result import CRASHED, INTERRUPTED, ScoreResult
from scoring.task import Task

MPS_RESOURCE = "mps"
MAX_RETRIES = 2  # re-runs of one evaluation after its worker died; then it is `crashed`
POLL_S = 0.2  # how often a waiting slot looks at `stop_now`
CONNECT_TIMEOUT_S = 10.0  # to open a TCP connection to the head's GCS port
CANCEL_GRACE_S = 30.0  # a cancelled task gets this long to kill its sandboxed child and return

log = logging.getLogger(__name__)


def evaluation_resources(cluster: dict[str, float], workers: int) -> dict[str, Any]:
    """The Ray resource request of one evaluation, from what the cluster offers (`ray.cluster_resources()`).

    One device per evaluation, as the local executor's one slot per device. Asking for a GPU on a cluster
    without one would queue the task forever, hence the choice follows the cluster, not a setting.
    """
    if cluster.get("GPU", 0) >= 1:
        return {"num_gpus": 1, "num_cpus": 1}
    if cluster.get(MPS_RESOURCE, 0) >= 1:
        return {"resources": {MPS_RESOURCE: 1}, "num_cpus": 1}
    return {"num_cpus": max(1, int(cluster.get("CPU", 1)) // workers)}


def connect(address: str | None) -> dict[str, float]:
    """Join the Ray cluster at `address` ("auto", "host:port"), or start a private one (None).

    Returns the cluster's resources. Any failure is an InputError, raised before a campaign writes anything.
    """
    try:
        import ray
    except ImportError:
        raise InputError("executor 'ray' needs Ray: pip install 'persona-evolve[ray]'") from None
    if not ray.is_initialized():
        _check_reachable(address if address != "auto" else os.environ.get("RAY_ADDRESS"))
        _errors_to_logging()
        try:
            # log_to_driver=False: the library never prints; workers' output stays in Ray's own log files.
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                     include_dashboard=False if address is None else None)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"at {address}" if address else "on this machine"
            raise InputError(f"cannot reach a Ray cluster {where}: {str(e).splitlines()[0][:200]}") from None
    resources = {k: float(v) for k, v in ray.cluster_resources().items()}
    if resources.get("CPU", 0) < 1:
        raise InputError(f"the Ray cluster at {address or 'this machine'} has no CPU to run evaluations on")
    return resources


def _check_reachable(address: str | None) -> None:
    """A "host:port" that nobody answers on is refused in seconds: `ray.init` would retry it for many minutes."""
    if not address or "://" in address or ":" not in address:
        return  # a private instance, or an address form Ray resolves itself
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise InputError(f"Ray address {address!r}: expected host:port or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise InputError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}") from None


def _errors_to_logging() -> None:
    """Ray's driver prints its cluster error feed ("(raylet) A worker died ...") on stdout, where
    `evolve launch --json` writes its result; send it to logging (stderr) instead. The retry event already
    records a dead worker in the lineage. Ray has no setting for this, hence the (guarded) private hook."""
    from ray._private import worker as ray_worker

    if getattr(ray_worker.print_to_stdstream, "_evolve", False):
        return

    def to_log(data: dict[str, Any], ignore_prefix: bool) -> None:
        for line in data.get("lines", []):
            log.warning("ray (%s): %s", data.get("pid"), line)

    to_log._evolve = True  # type: ignore[attr-defined]
    if hasattr(ray_worker, "print_to_stdstream"):
        ray_worker.print_to_stdstream = to_log


def _slot_env(kind: str) -> dict[str, str]:
    """In the worker: the device variables of the slot Ray gave this task (same ones as local slots)."""
    import ray

    ctx = ray.get_runtime_context()
    if kind == "gpu":
        return {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}  # set by Ray for this task
    if kind == "mps":
        # The node's `mps` units share one GPU: each evaluation caps itself to its share of the memory.
        node = next((n for n in ray.nodes() if n["NodeID"] == ctx.get_node_id()), {})
        units = node.get("Resources", {}).get(MPS_RESOURCE, 1.0)
        return {"PYTORCH_MPS_HIGH_WATERMARK_RATIO": f"{max(0.1, 1.0 / units):.2f}"}
    threads = str(max(1, int(ctx.get_assigned_resources().get("CPU", 1))))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def evaluate_in_worker(task: Task, files: dict[str, str], seed: int, smoke: bool, workdir: str,
                       timeout_s: float | None, kind: str, prune: Rule | None = None) -> ScoreResult:
    """The Ray task body: score one candidate in a sandboxed child of this worker.

    `ray.cancel` raises KeyboardInterrupt here; scoring then kills the child's process group (through its
    `stop` event) before the task ends, as the local executor's stop does, so nothing keeps training.
    """
    stop = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = score(files, task, seed=seed, smoke=smoke, workdir=Path(workdir), timeout=timeout_s,
                                  env=_slot_env(kind), stop=stop, prune=prune)
        except BaseException as e:  # handed to the task's thread so Ray reports it
            box["error"] = e

    Path(workdir).mkdir(parents=True, exist_ok=True)
    runner = threading.Thread(target=run, name="score", daemon=True)
    runner.start()
    try:
        while runner.is_alive():
            runner.join(POLL_S)
    except KeyboardInterrupt:
        stop.set()
        runner.join()
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


class RayExecutor:
    name = "ray"

    def __init__(self, task: Task, workers: int, smoke: bool, timeout_s: float | None, address: str | None):
        import ray

        self.smoke, self.timeout_s, self.address = smoke, timeout_s, address
        self.slots = workers
        self.stop_now = threading.Event()  # set: running evaluations are cancelled and come back interrupted
        cluster = connect(address)
        self.resources = evaluation_resources(cluster, workers)
        kind = "gpu" if "num_gpus" in self.resources else "mps" if "resources" in self.resources else "cpu"
        # max_retries=0: Ray must not re-run a dead worker's task by itself; we do, and record each retry.
        self._remote = ray.remote(max_retries=0)(evaluate_in_worker).options(**self.resources)
        self._kind = kind
        self._task_ref = ray.put(task)
        self._events: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        # One thread per slot only waits on its Ray task; the work happens on the cluster.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ray-slot")

    def submit(self, slot: int, job: Job) -> Future[ScoreResult]:
        return self._pool.submit(self._evaluate, job)

    def take_events(self) -> list[tuple[str, dict[str, Any]]]:
        """Events since the last call, for the campaign loop to record (it alone writes the database)."""
        events = []
        while not self._events.empty():
            events.append(self._events.get_nowait())
        return events

    def shutdown(self) -> None:
        import ray

        self._pool.shutdown(wait=True)
        # The campaign owned this driver connection: drop it, so a later campaign in this process joins the
        # cluster it names (and a private instance started for this one stops).
        ray.shutdown()

    def _evaluate(self, job: Job) -> ScoreResult:
        import ray.exceptions as rex

        # The controller's relative populations/ path means nothing in a worker: send an absolute one.
        base = str(Path(job.workdir).resolve())
        last = ""
        for attempt in range(MAX_RETRIES + 1):
            workdir = base if attempt == 0 else f"{base}-retry{attempt}"  # the dead attempt's files stay as evidence
            ref = self._remote.remote(self._task_ref, job.files, job.seed, self.smoke, workdir, self.timeout_s,
                                      self._kind, job.prune)
            try:
                return self._wait(ref, job.seed)
            except (rex.WorkerCrashedError, rex.NodeDiedError, rex.LocalRayletDiedError, rex.ObjectLostError,
                    InputError) as e:  # InputError: that node lacks something, e.g. the prepared dataset
                cause = getattr(e, "cause", None) or e  # a task's own exception, not Ray's traceback wrapper
                last = f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0][:300]}"
                if attempt < MAX_RETRIES:
                    self._events.put(("retry", {
                        "candidate": job.candidate_id, "seed": job.seed, "attempt": attempt + 1,
                        "max_retries": MAX_RETRIES, "executor": "ray", "error": last, "failed_workdir": workdir,
                        "retry_workdir": f"{base}-retry{attempt + 1}"}))
        return ScoreResult(CRASHED, f"the Ray worker died {MAX_RETRIES + 1} times while evaluating it ({last})",
                           job.seed)

    def _wait(self, ref: Any, seed: int) -> ScoreResult:
        import ray

        while True:
            done, _ = ray.wait([ref], timeout=POLL_S)
            if done:
                return ray.get(ref)
            if self.stop_now.is_set():
                ray.cancel(ref)  # KeyboardInterrupt in the task: it kills its sandboxed child first
                try:
                    ray.get(ref, timeout=CANCEL_GRACE_S)
                except Exception:  # cancelled (the expected case) or gone: either way it no longer runs
                    pass
                return ScoreResult(INTERRUPTED, "stopped by the controller before it finished", seed)
