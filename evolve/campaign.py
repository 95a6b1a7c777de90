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
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from evolve import lineage, pacing
from evolve.config import CampaignConfig
from evolve.evaluations import Evaluations, Slot, result_of
from evolve.executors import Executor
from evolve.kinds import CampaignStatus, EventKind
from evolve.ledger import Decision, Event, Ledger
from evolve.lineage import PENDING, RUNNING, Candidate
from evolve.operators.llm import LLMClient
from evolve.operators.personas import Persona
from evolve.outcome import STATUS_OF, Level, Outcome, Stop, Stopping
from evolve.proposals import Planned, Proposal, Proposer
from scoring.result import INTERRUPTED, OK
from scoring.task import Task

__all__ = ["Campaign", "Outcome", "Snapshot", "Stop"]

LEASE_RENEW_S = 10.0


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


class Campaign:
    def __init__(self, *, db: lineage.Database, campaign_id: int, name: str, config: CampaignConfig, task: Task,
                 personas: tuple[Persona, ...], llm: LLMClient, executor: Executor, folder: Path, owner: str,
                 time_used_s: float = 0.0, on_update: Callable[[Snapshot], None] | None = None):
        self.db, self.cid, self.name, self.cfg, self.task = db, campaign_id, name, config, task
        self.executor, self.folder, self.owner = executor, folder, owner
        self.on_update = on_update
        self.ledger = Ledger(db, campaign_id, config.islands.count, task.objective.pareto, task.seed_files)
        self.pop = self.ledger.pop  # read only: every change goes through the ledger
        self.time_before = time_used_s
        self.evals = Evaluations(ledger=self.ledger, config=config, slots=executor.slots, folder=folder,
                                 note=self._note)
        self.proposer = Proposer(ledger=self.ledger, config=config, task=task, personas=personas, llm=llm,
                                 note=self._note)
        # The loop's futures: evaluations by slot, LLM calls by proposal. `concurrency` live calls, and as many
        # again beside calls that stalled (evolve/pacing.py).
        self.running: dict[Future, int] = {}
        self.proposing: dict[Future, Proposal] = {}
        self._asking = ThreadPoolExecutor(max_workers=2 * config.llm.concurrency, thread_name_prefix="proposer")
        self.stopping: Stopping | None = None  # the one stop state; it only ever rises (outcome.Level)
        self.log: list[str] = []
        self.started = time.monotonic()

    # -- control ----------------------------------------------------------------------------------------

    def request_stop(self, reason: str = "stopped by the user") -> None:
        """First call: finish what is running, start nothing new. Second call: kill running evaluations."""
        if not self._stopped(Level.GRACEFUL):
            self._stop(Stop.USER, reason)
        else:
            self.stopping = Stopping(self.stopping.cause, self.stopping.reason, Level.NOW)
            self.executor.stop_now.set()

    def _stopped(self, level: Level) -> bool:
        return self.stopping is not None and self.stopping.at_least(level)

    def stopping_now(self) -> bool:
        """Running evaluations are being killed (the second stop request)."""
        return self._stopped(Level.NOW)

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
        busy = self.evals.busy()
        for i in self.pop.seed_ids:
            c, evals = self.pop.cands[i], self.pop.evals_of(i)
            finished = {s for s, r in evals.items() if r.status != INTERRUPTED}
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
        starts = []
        with self.ledger.batch():  # the `running` marks of the jobs started together: one transaction
            for start in self.evals.start(self.cfg.budget.max_evals + done + running):
                self.ledger.write(start)
                starts.append(start)
        for start in starts:
            self.running[self.executor.submit(start.slot, start.job)] = start.slot

    def _write(self, decisions: Iterable[Decision]) -> None:
        """Write each decision before the next is decided (they read the view it leaves), all in one
        transaction: an evaluation and what it decides are committed together or not at all."""
        with self.ledger.batch():
            for d in decisions:
                self.ledger.write(d)

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        self._write(self.evals.resume())
        next_renew = time.monotonic() + LEASE_RENEW_S
        try:
            while True:
                self._check_budgets()
                if not self._stopped(Level.GRACEFUL):
                    self._fill_slots()
                self._start_proposals()
                if not self.running and (not self.proposing or self.stopping_now()) and self._finished():
                    break
                self._record(self._wait())
                if time.monotonic() >= next_renew:
                    lineage.renew_lease(self.db, self.cid, self.owner)
                    next_renew = time.monotonic() + LEASE_RENEW_S
                self._update()
        finally:
            self._asking.shutdown(wait=False, cancel_futures=True)
        return self._outcome()

    def _wait(self) -> set[Future]:
        waiting = [*self.running, *self.proposing]
        if waiting:
            return wait(waiting, timeout=0.25, return_when=FIRST_COMPLETED)[0]
        # only the guard's backoff is pending: wait() on nothing would return at once
        time.sleep(min(0.25, max(0.05, self.proposer.next_at - time.monotonic())))
        return set()

    def _record(self, done: set[Future]) -> None:
        self._record_executor_events()  # before the evaluations they concern
        for fut in done:
            if fut in self.running:
                slot = self.running.pop(fut)
                self._write(self.evals.finished(slot, result_of(fut, self.evals.slots[slot].seed)))
            else:
                self.ledger.write(self.proposer.decide(self.proposing.pop(fut), fut.result()))
                self._check_budgets()  # two replies in one pass: the guard stops at its bound, not past it

    def _finished(self) -> bool:
        return self._stopped(Level.GRACEFUL) or (not self.evals.next_job() and not self._may_propose())

    def _check_budgets(self) -> None:
        """Stop when the seed failed or the evaluation or time budget is spent; stop the proposals when the
        LLM spend is, or when the progress guard says so (what is queued still trains)."""
        if self._stopped(Level.GRACEFUL):
            return
        seeds = [self.pop.cands[i] for i in self.pop.seed_ids]
        if seeds and all(s.status not in (OK, PENDING, RUNNING) for s in seeds):
            self._stop(Stop.SEED_FAILED, f"the seed program failed ({seeds[0].status}: {seeds[0].reason})")
        elif (spent := self._budget_spent()) is not None:
            self._budget(spent)
        elif self.stopping is None and (halt := self._halt_reason()) is not None:
            self._halt(*halt)

    def _budget_spent(self) -> str | None:
        b = self.cfg.budget
        if self.counted() >= b.max_evals:
            return f"evaluation budget reached ({b.max_evals})"
        if b.max_minutes is not None and self.elapsed_s() >= b.max_minutes * 60:
            return f"time budget reached ({b.max_minutes:g} min)"
        return None

    def _halt_reason(self) -> tuple[Stop, str, dict] | None:
        """Why proposals must stop (cause, reason, what the event records), or None."""
        b = self.cfg.budget
        if self._cost_exhausted():
            return Stop.SPEND, f"LLM cost budget reached (${b.max_cost_usd:g})", {"cost_usd": self.pop.cost_usd}
        if self.pop.llm_calls >= b.llm_call_limit():
            calls = self.pop.llm_calls
            return Stop.SPEND, f"LLM-call budget reached ({b.llm_call_limit()} calls)", {"llm_calls": calls}
        why = self.proposer.verdict()
        return (Stop.NO_PROGRESS, why, {"causes": self.proposer.guard.counts()}) if why is not None else None

    def _stop(self, cause: Stop, reason: str) -> None:  # graceful: what runs finishes, nothing new starts
        self.stopping = Stopping(cause, reason, Level.GRACEFUL)

    def _budget(self, reason: str) -> None:
        self._stop(Stop.BUDGET, reason)
        self.ledger.write(Event(EventKind.BUDGET_REACHED, {"reason": reason, "evals": self.pop.evals_done}))
        self._note(reason)

    def _halt(self, cause: Stop, reason: str, payload: dict) -> None:
        """No more proposals; what is queued or running is still trained, then the campaign ends."""
        self.stopping = Stopping(cause, reason, Level.PROPOSALS)
        kind = EventKind.NO_PROGRESS if cause is Stop.NO_PROGRESS else EventKind.BUDGET_REACHED
        self.ledger.write(Event(kind, {"reason": reason, "evals": self.pop.evals_done,
                                       "llm_calls": self.pop.llm_calls, **payload}))
        self._note(reason)

    def _cost_exhausted(self) -> bool:
        limit = self.cfg.budget.max_cost_usd
        return limit is not None and self.pop.cost_usd >= limit

    def _record_executor_events(self) -> None:
        """What the executor saw happen to its workers (e.g. a Ray worker died and an evaluation was retried)."""
        for kind, payload in self.executor.take_events():
            self.ledger.write(Event(kind, payload))
            self._note(f"{kind}: #{payload.get('candidate')} ({payload.get('error', '')[:60]})")

    # -- proposals --------------------------------------------------------------------------------------

    def _starting(self, island: int | None) -> list[Candidate]:
        """Starting programs still being evaluated (on the island, or anywhere)."""
        ids = self.pop.seed_ids if island is None else [i for i in self.pop.members[island] if i in self.pop.seed_ids]
        return [self.pop.cands[i] for i in ids if self.pop.cands[i].status in (PENDING, RUNNING)]

    def _may_propose(self) -> bool:
        # Proposals from a starting program begin while it trains, so its slot's next job is ready when it
        # ends instead of one LLM latency later (a seed that fails wastes at most the queue's depth of calls).
        if (self.stopping is not None or self._cost_exhausted()
                or self.pop.llm_calls + len(self.proposing) >= self.cfg.budget.llm_call_limit()
                or (self.pop.best() is None and not self._starting(None))):
            return False
        done, running, todo = self._imported()
        planned = (self.pop.evals_done - done) + (len(self.running) - running) + (self.evals.queued() - todo)
        return planned + self.proposer.live(self.proposing.values()) < self.cfg.budget.max_evals

    def _demand(self) -> int:
        """Jobs to have queued or being proposed: one per free slot, and those that end during one LLM call
        (evolve/pacing.py). No more: a job queued ahead is a proposal made from an older population."""
        walls = self.evals.walls[-20:]
        evaluation_s = statistics.median(walls) if walls else None
        ahead = pacing.lead(self.proposer.expected_latency(), evaluation_s, self.executor.slots,
                            self.proposer.waited(self.proposing.values()))
        return self.evals.slots.count(None) + ahead

    def _start_proposals(self) -> None:
        while (self.proposer.may_start(self.proposing.values()) and self._may_propose()
               and self.evals.queued() + self.proposer.live(self.proposing.values()) < self._demand()):
            planned = self.proposer.plan(self.ledger.next_event_no(), self._starting)
            if not isinstance(planned, Planned):  # nothing to propose from now, or a prompt that cannot be built
                if planned is not None:
                    self.ledger.write(planned)
                return  # next pass
            self.proposing[self._asking.submit(self.proposer.ask, planned)] = planned.proposal

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
            stopping=self._stopping_text(), log=tuple(self.log),
            imported_evals=done)

    def _stopping_text(self) -> str:
        if self.stopping is None:
            return ""
        if self.stopping.level is Level.PROPOSALS:
            return f"no more proposals: {self.stopping.reason}"
        return self.stopping.reason

    def _update(self) -> None:
        if self.on_update is not None:
            self.on_update(self.snapshot())

    def _outcome(self) -> Outcome:
        best = self.pop.best()
        cause, reason = ((self.stopping.cause, self.stopping.reason) if self.stopping is not None
                         else (Stop.NOTHING_LEFT, "nothing left to do within the budget"))
        seed = self.pop.seed()
        return Outcome(STATUS_OF.get(cause, CampaignStatus.FINISHED), cause, reason, self.pop.evals_done,
                       best.id if best else None, best.fitness if best else None, seed.id if seed else None,
                       self._seed_fitness(), self.pop.llm_calls, imported_evals=self._imported()[0])
