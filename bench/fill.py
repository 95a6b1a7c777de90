"""Synthetic campaigns for the benchmarks: lineage written in bulk (the one home of "a campaign that
already has N candidates") and evaluations of a fixed length (FixedExecutor, where only the pipeline is
measured). Used by bench/lineage_scale.py (100,000 candidates) and bench/peer/sides.py (our side of the
comparison with OpenEvolve: a launched campaign filled, then timed).

Each candidate's parent is drawn from the last 30 ok candidates of its island, as fitness-based selection
in a steady-state loop would; 5% are crossovers with a second parent from the same window. Every candidate
has its own files, one evaluation with a log tail unless it was refused before training, and, unless it is
a seed, one LLM call whose reply holds its first file, as a real campaign's rows would.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import sqlalchemy as sa

from evolve import lineage as L
from evolve.executors import Job
from evolve.launch import prepare_resume, run_session
from evolve.lineage.models import Blob, Candidate, CandidateFile, Evaluation, Event, LlmCall, Membership, utcnow
from evolve.population import Population
from scoring.result import OK, ScoreResult

WINDOW = 30
BATCH = 5_000
SCREENED = ("rejected", "constraint_violation")  # refused before training: no evaluation row
STATUSES = ["ok"] * 70 + ["crashed"] * 12 + ["rejected"] * 8 + ["timeout"] * 5 + ["constraint_violation"] * 5
FilesFor = Callable[[int], dict[str, str]]


class FixedExecutor:
    """Every evaluation takes `seconds` and scores a little better than the last."""

    name = "fixed"

    def __init__(self, seconds: float, slots: int = 1):
        self.seconds, self.slots = seconds, slots
        self.stop_now = threading.Event()
        self.busy_s = 0.0
        self._n = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=slots)

    def _run(self, job: Job) -> ScoreResult:
        t0 = time.perf_counter()
        if self.seconds:
            time.sleep(self.seconds)
        with self._lock:
            self._n += 1
            self.busy_s += time.perf_counter() - t0
            v = 3.0 - 1e-4 * self._n
        return ScoreResult(OK, "", job.seed, best_vloss=v, returned_vloss=v, test_loss=v, wall_s=self.seconds)

    def submit(self, slot: int, job: Job) -> Future:
        return self._pool.submit(self._run, job)

    def take_events(self) -> list:
        return []

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def plan(n: int, rng: random.Random, islands: int, personas: Sequence[str], roots: Sequence[dict] = (),
         first_id: int = 1) -> list[dict]:
    """Rows for candidates first_id .. first_id + n - 1. `roots` (rows with id, island, fitness,
    generation) are existing ok candidates the new ones may descend from; an island without one gets its
    first new candidate as a seed."""
    known = {r["id"]: r for r in roots}
    recent: list[list[int]] = [[r["id"] for r in roots if r["island"] == i][-WINDOW:] for i in range(islands)]
    rows: list[dict] = []
    for i in range(first_id, first_id + n):
        island = (i - first_id) % islands
        pool = recent[island]
        if not pool:
            row = {"id": i, "island": island, "parent_id": None, "parent2_id": None, "operator": "seed",
                   "persona": None, "generation": 0, "status": "ok", "fitness": 2.5}
        else:
            p = rng.choice(pool)
            p2 = rng.choice(pool) if rng.random() < 0.05 else None
            p2 = p2 if p2 != p else None
            status = rng.choice(STATUSES)
            parent = known[p]
            base = parent["fitness"] if parent["fitness"] is not None else 2.5
            row = {"id": i, "island": island, "parent_id": p, "parent2_id": p2,
                   "operator": "crossover" if p2 else rng.choice(["mutate"] * 9 + ["repair"]),
                   "persona": rng.choice(personas),
                   "generation": 1 + max(parent["generation"], known[p2]["generation"] if p2 else 0),
                   "status": status,
                   "fitness": max(1.0, base + rng.gauss(-0.002, 0.02)) if status == "ok" else None}
        # What finish_candidate keeps on each child: its first parent's fitness (None unless the parent is ok).
        row["parent_fitness"] = known[row["parent_id"]]["fitness"] if row["parent_id"] else None
        rows.append(row)
        known[i] = row
        if row["status"] == "ok":
            pool.append(i)
            del pool[:-WINDOW]
    return rows


def insert_bulk(db: L.Database, camp: int, rows: list[dict], files_for: FilesFor, event_base: int = 0) -> float:
    """`rows` in batches of executemany (no transaction per write); seconds taken. A blob already stored
    (a file many candidates share) is not written again."""
    now = utcnow()
    t = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        blobs: dict[str, dict] = {}
        cands, links, evals, calls, members = [], [], [], [], []
        for r in chunk:
            files = files_for(r["id"])
            for name, text in files.items():
                sha = hashlib.sha256(text.encode()).hexdigest()
                blobs[sha] = {"sha256": sha, "size": len(text), "content": text}
                links.append({"candidate_id": r["id"], "name": name, "sha256": sha})
            cands.append({**r, "campaign_id": camp, "model": "offline", "reason": "",
                          "code_hash": f"{r['id']:064x}", "event_no": event_base + r["id"] - 1,
                          "created_at": now, "finished_at": now})
            if r["status"] not in SCREENED:
                evals.append({"candidate_id": r["id"], "seed": 0, "status": r["status"], "reason": "",
                              "best_vloss": r["fitness"], "vloss_history": [], "steps": 500, "elapsed_s": 60.0,
                              "log_tail": "step 500 loss 1.9\n" * 20, "notes": [], "created_at": now,
                              "finished_at": now})
            if r["persona"]:
                calls.append({"campaign_id": camp, "candidate_id": r["id"], "persona": r["persona"],
                              "operator": r["operator"], "model": "offline", "prompt_hash": "p", "tokens_in": 3000,
                              "tokens_out": 1500, "cost_usd": 0.001, "latency_s": 2.0,
                              "reply": next(iter(files.values())), "created_at": now})
            members.append({"campaign_id": camp, "island": r["island"], "candidate_id": r["id"],
                            "via": "seed" if r["operator"] == "seed" else "birth", "joined_at": now})
        with db.session() as s, s.begin():
            stored = set(s.scalars(sa.select(Blob.sha256).where(Blob.sha256.in_(list(blobs)))))
            new_blobs = [b for sha, b in blobs.items() if sha not in stored]
            if new_blobs:
                s.execute(sa.insert(Blob), new_blobs)
            s.execute(sa.insert(Candidate), cands)
            s.execute(sa.insert(CandidateFile), links)
            if evals:
                s.execute(sa.insert(Evaluation), evals)
            if calls:
                s.execute(sa.insert(LlmCall), calls)
            s.execute(sa.insert(Membership), members)
    return time.perf_counter() - t


def fill_campaign(session, n: int, seed: int = 0) -> int:
    """Add `n` finished candidates below the ok candidates of a campaign that was launched and has run
    (an evolve.launch.Session); each is the seed program plus an unused module constant naming it (distinct
    programs, so their children are distinct too; the same training). Returns the campaign's evaluations
    now stored, the figure a resume's `max_evals` counts from."""
    db, camp, campaign = session.db, session.campaign_id, session.campaign
    islands, personas = campaign.cfg.islands.count, list(campaign.proposer.personas)
    seed_files, entry_file = dict(campaign.task.seed_files), campaign.task.entry_file
    _, existing = L.export_rows(db, camp, "candidates")
    _, members = L.export_rows(db, camp, "memberships")
    by_id = {r["id"]: r for r in existing}
    roots = [{**by_id[m["candidate_id"]], "island": m["island"]} for m in members
             if by_id[m["candidate_id"]]["status"] == "ok"]
    first = max(by_id) + 1
    event_base = max(r["event_no"] for r in existing) + 1 - (first - 1)  # event numbers go on from the last

    def files_for(i: int) -> dict[str, str]:
        return {**seed_files, entry_file: seed_files[entry_file] + f"\n_SYNTHETIC_CANDIDATE = {i}\n"}

    rows = plan(n, random.Random(seed), islands, personas, roots, first_id=first)
    insert_bulk(db, camp, rows, files_for, event_base)
    # The migrations a campaign would have made on the way (a round per `interval` finished candidates of an
    # island; their migrants are left out): without them the resumed loop would catch up on all at once.
    # The campaign's own view of the rows counts both, as the resumed loop will.
    pop = Population.from_db(db, camp, islands)
    interval, now = campaign.cfg.migration.interval, utcnow()
    migrations = [{"campaign_id": camp, "kind": "migration", "created_at": now,
                   "payload": {"from": i, "to": (i + 1) % islands, "round": k + 1, "candidates": []}}
                  for i in range(islands if islands > 1 else 0)
                  for k in range(pop.migrations_done[i], pop.finished_on(i) // interval)]
    if migrations:
        with db.session() as s, s.begin():
            s.execute(sa.insert(Event), migrations)
    return pop.evals_done


def timed_resume(name: str, max_evals: int, executor_factory) -> tuple[float, float]:
    """Resume campaign `name` up to `max_evals` evaluations: (seconds the loop ran, seconds of that spent
    loading the lineage into memory, which a resume does once; measured by the same load beforehand)."""
    resumed = prepare_resume(name, budget={"max_evals": max_evals}, executor_factory=executor_factory)
    t0 = time.perf_counter()
    Population.from_db(resumed.db, resumed.campaign_id, resumed.campaign.cfg.islands.count)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_session(resumed)
    return time.perf_counter() - t0, load
