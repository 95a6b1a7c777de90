"""The campaign loop: propose -> screen -> queue -> evaluate -> record, asynchronous and steady-state.

One thread (this loop) makes every decision and every database write; proposer threads only call the
LLM (what to propose, and recording the replies, is evolve/proposals.py) and evaluation slots only run
`scoring`. There is no generation barrier: a finished evaluation frees
its slot at once, and proposals are kept ahead of the slots so a slot never waits for an LLM while the
budget lasts. The queue is the set of `pending` candidates in the database, so a killed controller
loses at most the evaluations that were running; `evolve resume` picks them up again.

Proposals stop, while what is queued still trains, when the LLM cost or LLM-call budget is spent or
when the progress guard (evolve/progress.py) sees too many proposals in a row give nothing to train.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from evolve import islands as isl
from evolve import lineage
from evolve.config import CampaignConfig
from evolve.executors import Job
from evolve.kinds import Operator
from evolve.ledger import Ledger
from evolve.lineage import PENDING, RUNNING
from evolve.operators.llm import LLMClient
from evolve.operators.personas import Persona
from evolve.population import Cand
from evolve.proposals import Proposer
from scoring.result import INTERRUPTED, OK, ScoreResult
from scoring.task import Task

LEASE_RENEW_S = 10.0


class Stop(StrEnum):
    """Why a campaign ended; the outcome's status follows from it (STATUS_OF)."""

    BUDGET = "budget"  # evaluations or minutes used up
    SPEND = "spend"  # LLM cost or LLM calls used up; what was queued was trained
    NOTHING_LEFT = "nothing_left"
    USER = "user"  # Ctrl-C or SIGTERM
    NO_PROGRESS = "no_progress"  # the progress guard stopped the proposals
    SEED_FAILED = "seed_failed"


STATUS_OF = {Stop.USER: "stopped", Stop.NO_PROGRESS: "stopped", Stop.SEED_FAILED: "failed"}  # else finished


@dataclass(frozen=True)
class Slot:
    candidate_id: int
    seed: int
    persona: str | None
    started: float


@dataclass(frozen=True)
class Snapshot:
    """What the live view shows; plain values, taken by the loop."""

    name: str
    evals_done: int
    max_evals: int
    llm_calls: int
    max_llm_calls: int
    best: tuple[int, float] | None
    seed_fitness: float | None
    island_best: tuple[float | None, ...]
    slots: tuple[Slot | None, ...]
    queued: int
    proposing: int
    cost_usd: float
    elapsed_s: float
    eta_s: float | None
    stopping: str
    log: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    status: str  # finished | stopped | failed
    cause: Stop
    reason: str
    evals_done: int
    best_id: int | None
    best_fitness: float | None
    seed_id: int | None
    seed_fitness: float | None
    llm_calls: int = 0
    best_dir: str | None = None  # populations/NAME/best/, written when the run ends


class Campaign:
    def __init__(self, *, db: lineage.Database, campaign_id: int, name: str, config: CampaignConfig, task: Task,
                 personas: tuple[Persona, ...], llm: LLMClient, executor, folder: Path, owner: str,
                 time_used_s: float = 0.0, on_update: Callable[[Snapshot], None] | None = None):
        self.db, self.cid, self.name, self.cfg, self.task = db, campaign_id, name, config, task
        self.executor, self.folder, self.owner = executor, folder, owner
        self.on_update = on_update
        self.ledger = Ledger(db, campaign_id, config.islands.count)
        self.pop = self.ledger.pop  # read only: every change goes through the ledger
        self.time_before = time_used_s
        self.seeds = [config.evaluation.seed + i for i in range(config.evaluation.confirm_seeds + 1)]
        self.running: dict[Future, tuple[int, int, int]] = {}  # future -> (slot, candidate, seed)
        self.slots: list[Slot | None] = [None] * executor.slots
        self.proposer = Proposer(ledger=self.ledger, config=config, task=task, personas=personas, llm=llm,
                                 files=self._files, note=self._note)
        self.proposing = self.proposer.in_flight  # future -> Proposal
        self.stop_mode = ""  # "" | "graceful" | "now"
        self.stop_reason = ""
        self.stop_cause: Stop | None = None
        self.halted: tuple[Stop, str] | None = None  # proposals stopped (spend or no progress); the queue trains
        self.eval_walls: list[float] = []
        self.log: list[str] = []
        self.started = time.monotonic()
        self._files_cache: dict[int, dict[str, str]] = {}

    # -- control ----------------------------------------------------------------------------------------

    def request_stop(self, reason: str = "stopped by the user") -> None:
        """First call: finish what is running, start nothing new. Second call: kill running evaluations."""
        if not self.stop_mode:
            self._stop(Stop.USER, reason)
        else:
            self.stop_mode = "now"
            self.executor.stop_now.set()

    def _note(self, message: str) -> None:
        self.log = (self.log + [message])[-8:]

    def elapsed_s(self) -> float:
        return self.time_before + time.monotonic() - self.started

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        self._requeue_interrupted()
        for c in list(self.pop.unfinished()):
            self._decide(c)
        next_renew = time.monotonic() + LEASE_RENEW_S
        try:
            while True:
                self._check_budgets()
                self._start_evaluations()
                self._start_proposals()
                if not self.running and (not self.proposing or self.stop_mode == "now") and self._finished():
                    break
                waiting = [*self.running, *self.proposing]
                if waiting:
                    done, _ = wait(waiting, timeout=0.25, return_when=FIRST_COMPLETED)
                else:  # only the guard's backoff is pending: wait() on nothing would return at once
                    done = set()
                    time.sleep(min(0.25, max(0.05, self.proposer.next_at - time.monotonic())))
                self._record_executor_events()  # before the evaluations they concern
                for fut in done:
                    if fut in self.running:
                        self._on_evaluation(fut)
                    else:
                        self.proposer.record(fut)
                if time.monotonic() >= next_renew:
                    lineage.renew_lease(self.db, self.cid, self.owner)
                    next_renew = time.monotonic() + LEASE_RENEW_S
                self._update()
        finally:
            self.proposer.shutdown()
        return self._outcome()

    def _finished(self) -> bool:
        return bool(self.stop_mode) or (not self._next_job() and not self._may_propose())

    def _check_budgets(self) -> None:
        if self.stop_mode:
            return
        b = self.cfg.budget
        seeds = [self.pop.cands[i] for i in self.pop.seed_ids]
        if seeds and all(s.status not in (OK, PENDING, RUNNING) for s in seeds):
            self._stop(Stop.SEED_FAILED, f"the seed program failed ({seeds[0].status}: {seeds[0].reason})")
        elif self.pop.evals_done >= b.max_evals:
            self._budget(f"evaluation budget reached ({b.max_evals})")
        elif b.max_minutes is not None and self.elapsed_s() >= b.max_minutes * 60:
            self._budget(f"time budget reached ({b.max_minutes:g} min)")
        elif self.halted:
            return
        elif self._cost_exhausted():
            self._halt(Stop.SPEND, f"LLM cost budget reached (${b.max_cost_usd:g})", cost_usd=self.pop.cost_usd)
        elif self.pop.llm_calls >= b.llm_call_limit():
            self._halt(Stop.SPEND, f"LLM-call budget reached ({b.llm_call_limit()} calls)",
                       llm_calls=self.pop.llm_calls)
        elif (why := self.proposer.verdict()) is not None:
            self._halt(Stop.NO_PROGRESS, why, causes=self.proposer.guard.counts())

    def _stop(self, cause: Stop, reason: str) -> None:
        self.stop_mode, self.stop_cause, self.stop_reason = "graceful", cause, reason

    def _budget(self, reason: str) -> None:
        self._stop(Stop.BUDGET, reason)
        self.ledger.event("budget_reached", {"reason": reason, "evals": self.pop.evals_done})
        self._note(reason)

    def _halt(self, cause: Stop, reason: str, **payload) -> None:
        """No more proposals; what is queued or running is still trained, then the campaign ends."""
        self.halted = (cause, reason)
        kind = "no_progress" if cause is Stop.NO_PROGRESS else "budget_reached"
        self.ledger.event(kind, {"reason": reason, "evals": self.pop.evals_done, "llm_calls": self.pop.llm_calls,
                                 **payload})
        self._note(reason)

    def _cost_exhausted(self) -> bool:
        limit = self.cfg.budget.max_cost_usd
        return limit is not None and self.pop.cost_usd >= limit

    # -- evaluation -------------------------------------------------------------------------------------

    def _required(self, c: Cand) -> list[int]:
        return self.seeds if (c.operator == Operator.SEED or c.id in self.pop.confirming) else self.seeds[:1]

    def _next_job(self) -> tuple[Cand, int] | None:
        busy = {(cid, seed) for _, cid, seed in self.running.values()}
        todo = [c for c in self.pop.unfinished() if not self._failed_evals(c)]
        todo.sort(key=lambda c: (len(c.evals) == 0, c.operator != Operator.SEED, c.id))  # confirmations first
        for c in todo:
            for seed in self._required(c):
                done = c.evals.get(seed)
                if (done is None or done[0] == INTERRUPTED) and (c.id, seed) not in busy:
                    return c, seed
        return None

    def _start_evaluations(self) -> None:
        if self.stop_mode:
            return
        while None in self.slots and self.pop.evals_done + len(self.running) < self.cfg.budget.max_evals:
            job = self._next_job()
            if job is None:
                return
            c, seed = job
            slot = self.slots.index(None)
            self.ledger.set_queued(c, RUNNING)
            workdir = self.folder / "runs" / f"{c.id:06d}-seed{seed}"
            fut = self.executor.submit(slot, Job(c.id, seed, self._files(c.id), str(workdir)))
            self.running[fut] = (slot, c.id, seed)
            self.slots[slot] = Slot(c.id, seed, c.persona, time.monotonic())

    def _record_executor_events(self) -> None:
        """What the executor saw happen to its workers (e.g. a Ray worker died and an evaluation was retried)."""
        for kind, payload in getattr(self.executor, "take_events", list)():
            self.ledger.event(kind, payload)
            self._note(f"{kind}: #{payload.get('candidate')} ({payload.get('error', '')[:60]})")

    def _on_evaluation(self, fut: Future) -> None:
        slot, cid, seed = self.running.pop(fut)
        self.slots[slot] = None
        c = self.pop.cands[cid]
        try:
            result: ScoreResult = fut.result()
        except Exception as e:  # the executor itself failed (not the candidate): re-run it later
            result = ScoreResult(INTERRUPTED, f"executor error: {type(e).__name__}: {e}", seed)
        self.ledger.evaluated(cid, result)
        if result.wall_s:
            self.eval_walls.append(result.wall_s)
        loss = f"{result.best_vloss:.4f}" if result.best_vloss is not None else "-"
        self._note(f"#{cid} seed {seed}: {result.status} {loss}")
        if result.status == INTERRUPTED:
            if not any(v[1] == cid for v in self.running.values()):
                self.ledger.set_queued(c, PENDING)
            return
        self._decide(c)

    def _failed_evals(self, c: Cand) -> list[tuple[int, str]]:
        return [(s, st) for s, (st, _) in sorted(c.evals.items()) if st not in (OK, INTERRUPTED)]

    def _decide(self, c: Cand) -> None:
        """After an evaluation (or on resume): finish the candidate, or ask for confirmation seeds."""
        if c.status not in (PENDING, RUNNING):
            return
        failed = self._failed_evals(c)
        if failed:
            seed, status = failed[0]
            reason = self._eval_reason(c.id, seed)
            if seed != self.seeds[0]:
                reason = f"confirmation seed {seed}: {reason}"
            self._finish(c, status, reason)
            return
        first = c.evals.get(self.seeds[0])
        if first is None or first[0] != OK:
            return
        if c.operator != Operator.SEED and c.id not in self.pop.confirming:
            best = self.pop.best(c.island)
            if len(self.seeds) > 1 and (best is None or first[1] < best.fitness):
                self.ledger.confirm(c, {"first_vloss": first[1], "island": c.island,
                                        "island_best": best.fitness if best else None, "seeds": self.seeds[1:]})
            else:
                self._finish(c, OK, "")
                return
        ok = [c.evals.get(s) for s in self._required(c)]
        if all(e is not None and e[0] == OK for e in ok):
            self._finish(c, OK, "")
        elif c.status == RUNNING and not any(v[1] == c.id for v in self.running.values()):
            self.ledger.set_queued(c, PENDING)

    def _eval_reason(self, cid: int, seed: int) -> str:
        info = lineage.candidate(self.db, self.cid, cid)
        for e in info.get("evaluations", []):
            if e.get("seed") == seed:
                return e.get("reason") or ""
        return ""

    def _finish(self, c: Cand, status: str, reason: str) -> None:
        fitness = self.ledger.finish(c, status, reason)
        if status == OK:
            best = self.pop.best()
            if best is not None and best.id == c.id:
                self._note(f"new best #{c.id}: {fitness:.4f}")
        self._maybe_migrate(c.island)

    def _maybe_migrate(self, island: int) -> None:
        n = self.cfg.islands.count
        if n < 2:
            return
        interval = self.cfg.migration.interval
        while self.pop.finished_on(island) >= (self.pop.migrations_done[island] + 1) * interval:
            target = isl.ring_target(island, n)
            ids = isl.migrants(self.pop.individuals(island), self.cfg.migration.top_k)
            self.ledger.migrate(island, target, ids)
            self._note(f"migration {island} -> {target}: {ids}")

    def _requeue_interrupted(self) -> None:
        for c in self.pop.unfinished():
            if c.status == RUNNING:
                self.ledger.set_queued(c, PENDING)

    def _files(self, cid: int) -> dict[str, str]:
        if cid not in self._files_cache:
            if len(self._files_cache) > 256:
                self._files_cache.clear()
            self._files_cache[cid] = {**self.task.seed_files, **lineage.candidate_files(self.db, cid)}
        return self._files_cache[cid]

    # -- proposals --------------------------------------------------------------------------------------

    def _queued_jobs(self) -> int:
        busy = {(cid, seed) for _, cid, seed in self.running.values()}
        return sum(1 for c in self.pop.unfinished() for s in self._required(c)
                   if (c.evals.get(s) is None or c.evals[s][0] == INTERRUPTED) and (c.id, s) not in busy)

    def _starting(self, island: int | None) -> list[Cand]:
        """Starting programs still being evaluated (on the island, or anywhere)."""
        ids = self.pop.seed_ids if island is None else [i for i in self.pop.members[island] if i in self.pop.seed_ids]
        return [self.pop.cands[i] for i in ids if self.pop.cands[i].status in (PENDING, RUNNING)]

    def _may_propose(self) -> bool:
        # Proposals from a starting program begin while it trains, so its slot's next job is ready when it
        # ends instead of one LLM latency later (a seed that fails wastes at most the queue's depth of calls).
        if (self.stop_mode or self.halted or self._cost_exhausted()
                or self.pop.llm_calls + len(self.proposing) >= self.cfg.budget.llm_call_limit()
                or (self.pop.best() is None and not self._starting(None))):
            return False
        planned = self.pop.evals_done + len(self.running) + self._queued_jobs() + len(self.proposing)
        return planned < self.cfg.budget.max_evals

    def _start_proposals(self) -> None:
        depth = 2 * self.executor.slots + self.cfg.llm.concurrency
        while (len(self.proposing) < self.cfg.llm.concurrency and self.proposer.ready()
               and self._may_propose() and self._queued_jobs() + len(self.proposing) < depth):
            if not self.proposer.start(self._starting):
                return  # nothing to propose from now, or a prompt that could not be built: next pass

    # -- reporting --------------------------------------------------------------------------------------

    def _seed_fitness(self) -> float | None:
        seed = self.pop.seed()
        return seed.fitness if seed else None

    def snapshot(self) -> Snapshot:
        best = self.pop.best()
        remaining = max(0, self.cfg.budget.max_evals - self.pop.evals_done)
        eta = (statistics.median(self.eval_walls) * remaining / self.executor.slots) if self.eval_walls else None
        return Snapshot(
            name=self.name, evals_done=self.pop.evals_done, max_evals=self.cfg.budget.max_evals,
            llm_calls=self.pop.llm_calls, max_llm_calls=self.cfg.budget.llm_call_limit(),
            best=(best.id, best.fitness) if best else None, seed_fitness=self._seed_fitness(),
            island_best=tuple((b.fitness if (b := self.pop.best(i)) else None) for i in range(self.cfg.islands.count)),
            slots=tuple(self.slots), queued=self._queued_jobs(), proposing=len(self.proposing),
            cost_usd=self.pop.cost_usd, elapsed_s=self.elapsed_s(), eta_s=eta,
            stopping=self.stop_reason if self.stop_mode else (f"no more proposals: {self.halted[1]}"
                                                             if self.halted else ""), log=tuple(self.log))

    def _update(self) -> None:
        if self.on_update is not None:
            self.on_update(self.snapshot())

    def _outcome(self) -> Outcome:
        best = self.pop.best()
        if self.stop_cause is not None:
            cause, reason = self.stop_cause, self.stop_reason
        else:
            cause, reason = self.halted or (Stop.NOTHING_LEFT, "nothing left to do within the budget")
        seed = self.pop.seed()
        return Outcome(STATUS_OF.get(cause, "finished"), cause, reason, self.pop.evals_done,
                       best.id if best else None, best.fitness if best else None, seed.id if seed else None,
                       self._seed_fitness(), self.pop.llm_calls)
