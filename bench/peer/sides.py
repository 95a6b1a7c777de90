"""The three contestants of the side-by-side benchmarks, each run once on given work.

- ours: a real campaign (evolve.launch) on the single-file task, LLM through litellm from the loopback
  server, evaluations by a real LocalExecutor (sandboxed training) or by bench/fill.py's fixed-length
  executor; each evaluation's start, end, status and loss are recorded in the slot thread.
- peer: OpenEvolve 0.4.0 in its own venv (bench/peer/run_peer.py), same loopback server, its evaluator
  calling our scoring; the evaluator logs the same record per evaluation.
- best_of_n: no search: every child is one offline-operator mutation of the seed, scored in turn.

Every function returns plain values: {"wall_s", "evals": [{"start", "end", "status", "best_vloss"}], ...}
with times in seconds since the run started. With real training, each also returns the best program's
files ("best_files") and ours and best_of_n tag each evaluation with the catalog edits its program
stacks ("depth", `edits_stacked`); ours adds each one's candidate, generation and staleness. `threads`
sets the training's torch threads (default: the slot's, all cores for one slot). `fresh(name, ...)` runs
one of them in a new process, as each peer run is and as a user's controller is (measured: a campaign run
after others in one long-lived process took 20-45% longer per candidate).

    python bench/peer/sides.py NAME JSON_KWARGS   (prints the function's result as one JSON line)
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from bench.fill import FixedExecutor, fill_campaign, timed_resume  # noqa: E402
from bench.peer.loopback import BenchServer  # noqa: E402
from evolve import config as cfgmod  # noqa: E402
from evolve import lineage  # noqa: E402
from evolve.executors import Job, LocalExecutor  # noqa: E402
from evolve.launch import Session, prepare_launch, run_session  # noqa: E402
from evolve.operators.offline.catalog import CATALOG  # noqa: E402
from evolve.operators.offline.operator import mutate_files  # noqa: E402
from scoring.api import score  # noqa: E402
from scoring.result import ScoreResult  # noqa: E402
from scoring.task import Task, load_task  # noqa: E402

SINGLE_TASK = REPO / "seeds" / "tasks" / "nanogpt_single"
PEER_PYTHON = REPO / "bench" / ".peer" / "bin" / "python"
OUT = REPO / "bench" / "out"


def single_task() -> Task:
    return load_task(SINGLE_TASK)


def edits_stacked(files: dict[str, str]) -> int:
    """How many of the offline catalog's edits the program holds (the seed: 0)."""
    return sum(e.applied(files) for e in CATALOG)


def thread_env(threads: int | None) -> dict[str, str]:
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {}


class TimedExecutor(LocalExecutor):
    """Our local executor, recording when each evaluation held the slot and how it ended."""

    def __init__(self, task: Task, workers: int, smoke: bool, timeout_s: float | None):
        super().__init__(task, workers, smoke, timeout_s)
        self.evals: list[dict] = []
        self._lock = threading.Lock()

    def submit(self, slot: int, job: Job) -> Future[ScoreResult]:
        Path(job.workdir).mkdir(parents=True, exist_ok=True)

        def run() -> ScoreResult:
            start = time.time()
            r = score(job.files, self.task, seed=job.seed, smoke=self.smoke, workdir=Path(job.workdir),
                      timeout=self.timeout_s, env=self.envs[slot], stop=self.stop_now)
            with self._lock:
                self.evals.append({"start": start, "end": time.time(), "status": r.status,
                                   "best_vloss": r.best_vloss, "candidate": job.candidate_id})
            return r

        return self._pool.submit(run)


# The controller's own cost is measured with the progress guard's backoff off: it is a deliberate wait after
# proposals that gave nothing to train, and an instant offline operator soon repeats itself (duplicates).
NO_BACKOFF = {"fruitless_backoff_s": 0.0, "max_fruitless": 100_000}


def _ours_cfg(url: str, evals: int, seed: int = 0, smoke: bool = False, concurrency: int = 2,
              timeout_s: float | None = None, backoff: bool = True) -> cfgmod.CampaignConfig:
    evaluation = {"smoke": smoke, "confirm_seeds": 0, "workers": 1}
    if timeout_s:
        evaluation["timeout_s"] = timeout_s
    return cfgmod.validate({"task": str(SINGLE_TASK), "seed": seed,
                            "models": [{"name": "openai/offline", "api_base": url}],
                            "llm": {"concurrency": concurrency, "retries": 0, **({} if backoff else NO_BACKOFF)},
                            "islands": {"count": 2},
                            "budget": {"max_evals": evals}, "evaluation": evaluation})


def _relative(evals: list[dict], t0: float) -> list[dict]:
    return sorted(({**e, "start": round(e["start"] - t0, 3), "end": round(e["end"] - t0, 3)} for e in evals),
                  key=lambda e: e["end"])


def _program(db: lineage.Database, cid: int, task: Task) -> dict[str, str]:
    return {**task.seed_files, **lineage.candidate_files(db, cid)}


def _lineage_view(session: Session, task: Task, best_id: int | None, evals: list[dict]) -> dict:
    """Each evaluation's depth, generation and staleness (None before the column exists); the best's files."""
    _, rows = lineage.export_rows(session.db, session.campaign_id, "candidates")
    by_id = {r["id"]: r for r in rows}
    for e in evals:
        row = by_id.get(e["candidate"], {})
        e.update(depth=edits_stacked(_program(session.db, e["candidate"], task)), generation=row.get("generation"),
                 staleness=row.get("staleness"))
    if best_id is None:
        return {}
    return {"best_id": best_id, "best_files": _program(session.db, best_id, task),
            "best_generation": by_id[best_id]["generation"]}


def ours_run(evals: int, *, latency_s: float = 0.0, eval_s: float | None = None, seed: int = 0,
             smoke: bool = False, timeout_s: float | None = None, hang_at: int | None = None,
             threads: int | None = None) -> dict:
    """One campaign: fixed-length evaluations of `eval_s` seconds, or real training when it is None."""
    task = single_task()
    concurrency = 2 if eval_s is None or eval_s == 0 else math.ceil(latency_s / eval_s) + 1
    box: dict = {}

    def factory(t: Task, c: cfgmod.CampaignConfig):
        box["ex"] = (FixedExecutor(eval_s) if eval_s is not None
                     else TimedExecutor(t, 1, c.evaluation.smoke, c.evaluation.timeout_s))
        if threads and eval_s is None:
            box["ex"].envs = [thread_env(threads)]
        return box["ex"]

    with BenchServer(task, latency_s=latency_s, hang_at=hang_at) as server:
        name = f"bench-peer-ours-{time.time_ns()}"
        session = prepare_launch(_ours_cfg(server.url, evals, seed, smoke, concurrency, timeout_s), name,
                                 executor_factory=factory)
        t0 = time.time()
        outcome = run_session(session)
        wall = time.time() - t0
    ex = box["ex"]
    out = {"wall_s": round(wall, 3), "best_vloss": outcome.best_fitness, "proposers": concurrency}
    if isinstance(ex, FixedExecutor):
        out.update(busy_s=round(ex.busy_s, 3), n_evals=ex._n)
    else:
        out["evals"] = _relative(ex.evals, t0)
        out.update(_lineage_view(session, task, outcome.best_id, out["evals"]))
    return out


def ours_controller(n: int, extra: int) -> dict:
    """ms per evaluation of our loop with `n` candidates already in the campaign (instant LLM and evaluation)."""
    task = single_task()
    with BenchServer(task) as server:
        name = f"bench-peer-ctl-{n}-{time.time_ns()}"
        t0 = time.time()
        session = prepare_launch(_ours_cfg(server.url, 1, backoff=False), name,
                                 executor_factory=lambda t, c: FixedExecutor(0.0))
        run_session(session)  # the seed's evaluation, then n - 1 more candidates written in bulk
        stored = fill_campaign(session, n - 1)
        fill = time.time() - t0
        # the stored settings name this server's URL, so the resume talks to the same server
        wall, load = timed_resume(name, stored + extra, lambda t, c: FixedExecutor(0.0))
    # the loop's run after loading the lineage, as the peer's figure is its run() with its programs in memory
    return {"programs": n, "new_evaluations": extra, "fill_s": round(fill, 1), "wall_s": round(wall, 2),
            "load_s": round(load, 2), "ms_per_candidate": round(1000 * (wall - load) / extra, 1)}


def peer_available(python: Path = PEER_PYTHON) -> bool:
    if not python.exists():
        return False
    r = subprocess.run([str(python), "-c", "import openevolve"], capture_output=True)
    return r.returncode == 0


def peer_run(iterations: int, *, latency_s: float = 0.0, eval_s: float | None = None, seed: int = 0,
             smoke: bool = False, timeout_s: float = 180, score_timeout_s: float | None = None,
             prefill: int = 0, hang_at: int | None = None, python: Path = PEER_PYTHON,
             limit_s: float | None = None, threads: int | None = None) -> dict:
    """One OpenEvolve run of `iterations` (its seed evaluation comes first, as ours), our scoring inside."""
    task = single_task()
    work = OUT / f"peer-run-{time.time_ns()}"
    work.mkdir(parents=True)
    log, summary = work / "evals.jsonl", work / "summary.json"
    env = {**os.environ, "BENCH_EVAL_LOG": str(log), "BENCH_OURS_PY": sys.executable,
           "BENCH_EVAL_MODE": "fixed" if eval_s is not None else "score", "BENCH_EVAL_S": str(eval_s or 0),
           "BENCH_SMOKE": "1" if smoke else "0", "OPENAI_API_KEY": "dummy", **thread_env(threads)}
    if score_timeout_s:
        env["BENCH_SCORE_TIMEOUT"] = str(score_timeout_s)
    with BenchServer(task, latency_s=latency_s, hang_at=hang_at) as server:
        cmd = [str(python), str(REPO / "bench" / "peer" / "run_peer.py"), "--api-base", server.url,
               "--iterations", str(iterations), "--out", str(summary), "--seed", str(seed),
               "--timeout", str(timeout_s), "--prefill", str(prefill), "--workdir", str(work)]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(work / "stderr.log", "w"), start_new_session=True)
        try:
            rc = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            rc = proc.wait()
        wall = time.time() - t0
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    evals = [r for r in records if "started" not in r]
    ended = {r["start"] for r in evals}
    # an evaluation that started and never ended (still running when the run was over)
    unfinished = [{"start": r["started"], "end": t0 + wall, "status": "never returned", "best_vloss": None}
                  for r in records if "started" in r and r["started"] not in ended]
    out = {"wall_s": round(wall, 3), "returncode": rc, "workdir": str(work), "evals": _relative(evals, t0),
           "unfinished": _relative(unfinished, t0)}
    if summary.exists():
        s = json.loads(summary.read_text())
        out.update(run_wall_s=round(s["wall_s"], 3), prefill_s=round(s["prefill_s"], 1), programs=s["programs"],
                   best_metrics=s["best_metrics"])
    elif rc != 0:
        out["error"] = (work / "stderr.log").read_text()[-1500:]
    out.update(_peer_best(work, task))
    return out


def _peer_best(work: Path, task: Task) -> dict:
    """The best program OpenEvolve wrote at the end of its run (output/best/), with its generation."""
    best = work / "output" / "best"
    if not (best / "best_program.py").exists():
        return {}
    info = json.loads((best / "best_program_info.json").read_text())
    return {"best_files": {task.entry_file: (best / "best_program.py").read_text()},
            "best_generation": info.get("generation")}


def best_of_n(evals: int, *, seed: int = 0, smoke: bool = False, timeout_s: float | None = None,
              threads: int | None = None) -> dict:
    """The seed, then evals - 1 children each one mutation of the seed, scored one after another."""
    task = single_task()
    f = task.frozen
    parent = dict(task.seed_files)
    records, seen = [], set()
    t0 = time.time()
    candidates = [parent]
    i = 0
    while len(candidates) < evals and i < 50 * evals:
        out = mutate_files(parent, frozen_names=f.names, frozen_file=f.file, end_marker=f.end_marker, seed=seed,
                           key=f"best-of-n:{i}")
        i += 1
        if out is not None and out[0][task.entry_file] not in seen:
            seen.add(out[0][task.entry_file])
            candidates.append(out[0])
    for files in candidates:
        start = time.time()
        r = score(files, task, smoke=smoke, timeout=timeout_s, env=thread_env(threads))
        records.append({"start": start, "end": time.time(), "status": r.status, "best_vloss": r.best_vloss,
                        "depth": edits_stacked(files), "generation": int(files is not parent)})
    ok = [(rec["best_vloss"], i) for i, rec in enumerate(records) if rec["status"] == "ok"]
    best = {"best_files": candidates[min(ok)[1]]} if ok else {}
    return {"wall_s": round(time.time() - t0, 3), "evals": _relative(records, t0), **best}


def fresh(name: str, **kwargs) -> dict:
    """`name(**kwargs)` (ours_run or ours_controller) in a new Python process; its result."""
    r = subprocess.run([sys.executable, str(Path(__file__).resolve()), name, json.dumps(kwargs)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps({"ours_run": ours_run, "ours_controller": ours_controller}[sys.argv[1]](
        **json.loads(sys.argv[2]))))
