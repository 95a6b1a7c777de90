"""The campaign loop: propose -> screen -> queue -> evaluate -> record, asynchronous and steady-state.

One thread (this loop) makes every decision and every database write; proposer threads only call the
LLM and evaluation slots only run `scoring`. The loop schedules and keeps the budgets; what to propose
and how a reply is recorded is evolve/proposals.py, which job runs next and what a finished evaluation
decides is evolve/evaluations.py, and every state change goes through evolve/ledger.py. There is no
generation barrier: a finished evaluation frees its slot at once. Proposals are made as late as keeping
the slots busy allows (one per free slot, plus those that cover the LLM's measured latency:
evolve/pacing.py), so each is made from the freshest population; each candidate's recorded staleness says
how fresh. The queue is the set of `pending` candidates in the database, so a killed controller loses at
most the evaluations that were running; `evolve resume` picks them up again.

Proposals stop, while what is queued still trains, when the LLM cost or LLM-call budget is spent or
when the progress guard (evolve/progress.py) sees too many proposals in a row give nothing to train.

The evaluation budget is the search's: the programs a campaign imports with `--from` are measured again on
this campaign's seeds (their earlier scores came from another campaign's seeds and settings, perhaps
another machine, and a child must beat its island's best measured the same way), and those evaluations
are not counted in it. Otherwise re-measuring `--top 2` programs on three seeds would take a six-evaluation
budget whole and train no child.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from evolve import lineage, pacing
from evolve.config import CampaignConfig
from evolve.evaluations import Evaluations, Slot
from evolve.kinds import CampaignStatus, EventKind
from evolve.ledger import Ledger
from evolve.lineage import PENDING, RUNNING, Candidate
from evolve.operators.llm import LLMClient
from evolve.operators.personas import Persona
from evolve.proposals import Proposer
from scoring.result import INTERRUPTED, OK
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


STATUS_OF = {Stop.USER: CampaignStatus.STOPPED, Stop.NO_PROGRESS: CampaignStatus.STOPPED,
             Stop.SEED_FAILED: CampaignStatus.FAILED}  # else finished


@dataclass(frozen=True)
class Snapshot:
    """What the live view shows; plain values, taken by the loop."""

    name: str
    evals_done: int  # the ones the budget counts
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
    imported_evals: int = 0  # finished evaluations of programs imported with --from (not counted)


@dataclass(frozen=True)
class Outcome:
    status: CampaignStatus  # finished | stopped | failed
    cause: Stop
    reason: str
    evals_done: int  # every finished evaluation, those of imported programs included
    best_id: int | None
    best_fitness: float | None
    seed_id: int | None
    seed_fitness: float | None
    llm_calls: int = 0
    best_dir: str | None = None  # populations/NAME/best/, written when the run ends
    imported_evals: int = 0  # of evals_done, those that measured programs imported with --from (not counted)


class Campaign:
    def __init__(self, *, db: lineage.Database, campaign_id: int, name: str, config: CampaignConfig, task: Task,
                 personas: tuple[Persona, ...], llm: LLMClient, executor, folder: Path, owner: str,
                 time_used_s: float = 0.0, on_update: Callable[[Snapshot], None] | None = None):
        self.db, self.cid, self.name, self.cfg, self.task = db, campaign_id, name, config, task
        self.executor, self.folder, self.owner = executor, folder, owner
        self.on_update = on_update
        self.ledger = Ledger(db, campaign_id, config.islands.count, task.objective.pareto)
        self.pop = self.ledger.pop  # read only: every change goes through the ledger
        self.time_before = time_used_s
        self.evals = Evaluations(ledger=self.ledger, config=config, executor=executor, folder=folder,
                                 files=self._files, note=self._note)
        self.running = self.evals.running  # future -> (slot, candidate, seed)
        self.proposer = Proposer(ledger=self.ledger, config=config, task=task, personas=personas, llm=llm,
                                 files=self._files, note=self._note)
        self.proposing = self.proposer.in_flight  # future -> Proposal
        self.stop_mode = ""  # "" | "graceful" | "now"
        self.stop_reason = ""
        self.stop_cause: Stop | None = None
        self.halted: tuple[Stop, str] | None = None  # proposals stopped (spend or no progress); the queue trains
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

    # -- the evaluation budget --------------------------------------------------------------------------

    def _imported(self) -> tuple[int, int, int]:
        """Evaluations of the programs imported with --from (every starting program of such a campaign):
        (finished, running, still to start). The budget does not count them."""
        if not self.cfg.start.campaign:
            return 0, 0, 0
        done = running = todo = 0
        busy = {(cid, seed) for _, cid, seed in self.running.values()}
        for i in self.pop.seed_ids:
            c, evals = self.pop.cands[i], self.pop.evals_of(i)
            finished = {s for s, (status, _) in evals.items() if status != INTERRUPTED}
            mine = {s for cid, s in busy if cid == i}
            done, running = done + len(finished), running + len(mine)
            if c.status in (PENDING, RUNNING):
                todo += len(set(self.evals.required(c)) - finished - mine)
        return done, running, todo

    def counted(self) -> int:
        """Finished evaluations the evaluation budget counts."""
        return self.pop.evals_done - self._imported()[0]

    def _fill_slots(self) -> None:
        """Start evaluations in the free slots. The evaluations start while those finished plus those running
        stay under the budget they are given: the campaign's, raised by the imported programs' finished and
        running ones, so that a child never starts past the budget and an imported program's evaluation
        never counts in it."""
        done, running, _ = self._imported()
        limit = self.cfg.budget.max_evals + done + running
        if self.evals.cfg.budget.max_evals != limit:
            self.evals.cfg = self.cfg.model_copy(
                update={"budget": self.cfg.budget.model_copy(update={"max_evals": limit})})
        self.evals.start()

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        self.evals.resume()
        next_renew = time.monotonic() + LEASE_RENEW_S
        try:
            while True:
                self._check_budgets()
                if not self.stop_mode:
                    self._fill_slots()
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
                        self.evals.finished(fut)
                    else:
                        self.proposer.record(fut)
                        self._check_budgets()  # two replies in one pass: the guard stops at its bound, not past it
                if time.monotonic() >= next_renew:
                    lineage.renew_lease(self.db, self.cid, self.owner)
                    next_renew = time.monotonic() + LEASE_RENEW_S
                self._update()
        finally:
            self.proposer.shutdown()
        return self._outcome()

    def _finished(self) -> bool:
        return bool(self.stop_mode) or (not self.evals.next_job() and not self._may_propose())

    def _check_budgets(self) -> None:
        if self.stop_mode:
            return
        b = self.cfg.budget
        seeds = [self.pop.cands[i] for i in self.pop.seed_ids]
        if seeds and all(s.status not in (OK, PENDING, RUNNING) for s in seeds):
            self._stop(Stop.SEED_FAILED, f"the seed program failed ({seeds[0].status}: {seeds[0].reason})")
        elif self.counted() >= b.max_evals:
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

    def _stop(self, cause: Stop, reason: str) -> None:  # graceful: what runs finishes, nothing new starts
        self.stop_mode, self.stop_cause, self.stop_reason = "graceful", cause, reason

    def _budget(self, reason: str) -> None:
        self._stop(Stop.BUDGET, reason)
        self.ledger.event(EventKind.BUDGET_REACHED, {"reason": reason, "evals": self.pop.evals_done})
        self._note(reason)

    def _halt(self, cause: Stop, reason: str, **payload) -> None:
        """No more proposals; what is queued or running is still trained, then the campaign ends."""
        self.halted = (cause, reason)
        kind = EventKind.NO_PROGRESS if cause is Stop.NO_PROGRESS else EventKind.BUDGET_REACHED
        self.ledger.event(kind, {"reason": reason, "evals": self.pop.evals_done, "llm_calls": self.pop.llm_calls,
                                 **payload})
        self._note(reason)

    def _cost_exhausted(self) -> bool:
        limit = self.cfg.budget.max_cost_usd
        return limit is not None and self.pop.cost_usd >= limit

    def _record_executor_events(self) -> None:
        """What the executor saw happen to its workers (e.g. a Ray worker died and an evaluation was retried)."""
        for kind, payload in getattr(self.executor, "take_events", list)():
            self.ledger.event(kind, payload)
            self._note(f"{kind}: #{payload.get('candidate')} ({payload.get('error', '')[:60]})")

    def _files(self, cid: int) -> dict[str, str]:
        if cid not in self._files_cache:
            if len(self._files_cache) > 256:
                self._files_cache.clear()
            self._files_cache[cid] = {**self.task.seed_files, **lineage.candidate_files(self.db, cid)}
        return self._files_cache[cid]

    # -- proposals --------------------------------------------------------------------------------------

    def _starting(self, island: int | None) -> list[Candidate]:
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
        done, running, todo = self._imported()
        planned = (self.pop.evals_done - done) + (len(self.running) - running) + (self.evals.queued() - todo)
        return planned + self.proposer.live() < self.cfg.budget.max_evals

    def _demand(self) -> int:
        """Jobs to have queued or being proposed: one per free slot, and those that end during one LLM call
        (evolve/pacing.py). No more: a job queued ahead is a proposal made from an older population."""
        walls = self.evals.walls[-20:]
        evaluation_s = statistics.median(walls) if walls else None
        ahead = pacing.lead(self.proposer.expected_latency(), evaluation_s, self.executor.slots)
        return self.evals.slots.count(None) + ahead

    def _start_proposals(self) -> None:
        while (self.proposer.may_start() and self._may_propose()
               and self.evals.queued() + self.proposer.live() < self._demand()):
            if not self.proposer.start(self._starting):
                return  # nothing to propose from now, or a prompt that could not be built: next pass

    # -- reporting --------------------------------------------------------------------------------------

    def _seed_fitness(self) -> float | None:
        seed = self.pop.seed()
        return seed.fitness if seed else None

    def snapshot(self) -> Snapshot:
        best = self.pop.best()
        done, running, todo = self._imported()
        remaining = max(0, self.cfg.budget.max_evals - (self.pop.evals_done - done)) + running + todo
        walls = self.evals.walls
        eta = (statistics.median(walls) * remaining / self.executor.slots) if walls else None
        return Snapshot(
            name=self.name, evals_done=self.pop.evals_done - done, max_evals=self.cfg.budget.max_evals,
            llm_calls=self.pop.llm_calls, max_llm_calls=self.cfg.budget.llm_call_limit(),
            best=(best.id, best.fitness) if best else None, seed_fitness=self._seed_fitness(),
            island_best=tuple((b.fitness if (b := self.pop.best(i)) else None) for i in range(self.cfg.islands.count)),
            slots=tuple(self.evals.slots), queued=self.evals.queued(), proposing=len(self.proposing),
            cost_usd=self.pop.cost_usd, elapsed_s=self.elapsed_s(), eta_s=eta,
            stopping=self.stop_reason if self.stop_mode else (f"no more proposals: {self.halted[1]}"
                                                             if self.halted else ""), log=tuple(self.log),
            imported_evals=done)

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
        return Outcome(STATUS_OF.get(cause, CampaignStatus.FINISHED), cause, reason, self.pop.evals_done,
                       best.id if best else None, best.fitness if best else None, seed.id if seed else None,
                       self._seed_fitness(), self.pop.llm_calls, imported_evals=self._imported()[0])
