"""The campaign's state changes, each one call: the rows are written, then the in-memory view
(evolve/population.py) is updated to match, in the same transaction.

The Proposer and the Evaluations decide: they return decisions (the values below) and read the state
through `ledger.pop` and the two reads below; the campaign loop hands each decision to `write`, the one
way state changes. Each write stores its rows, then applies the values it wrote to the view
(`Population.apply`): the values a resume reads back from the same rows, so the view cannot drift from
the database, and a `kill -9` loses nothing the view knew. A candidate's lineage facts (generation, the
first parent's fitness, fitness, training cost) are decided here from the view with evolve/lineage/facts.py.

`batch()` makes the writes inside it one transaction: an evaluation, the verdict it leads to (the
candidate's final status, or its confirmation) and the migration it triggers are committed together or
not at all. A write that fails raises out of the campaign, whose view is then discarded with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from evolve import lineage
from evolve.executors import Job
from evolve.kinds import EventKind, Operator, Queued
from evolve.lineage import PENDING, RUNNING, Candidate, Transaction, facts
from evolve.lineage.facts import Call, Confirming, Evaluated, Joined, Migrated, NewCandidate, Spent, descent, stored
from evolve.population import Population
from scoring.result import OK, ScoreResult, Status

# -- the decisions: what the Proposer and the Evaluations decide, and the loop writes ----------------------


@dataclass(frozen=True)
class Start:
    """A job starts in an evaluation slot: its candidate pending -> running (the first start fixes the
    candidate's staleness). The loop submits the job once this is written."""

    candidate: int
    slot: int
    job: Job


@dataclass(frozen=True)
class Requeue:
    """running -> pending: it waits for a slot again."""

    candidate: int


@dataclass(frozen=True)
class Record:
    """A finished evaluation."""

    candidate: int
    result: ScoreResult


@dataclass(frozen=True)
class Confirm:
    """The candidate would become its island's best: it is evaluated on the confirmation seeds first."""

    candidate: int
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Finish:
    """The final status; the fitness and training cost are facts.py's, from the candidate's evaluations."""

    candidate: int
    status: Status
    reason: str


@dataclass(frozen=True)
class Migrate:
    source: int
    target: int
    ids: tuple[int, ...]


@dataclass(frozen=True)
class Propose:
    """An LLM call and the candidate it produced (queued, or rejected with its reason)."""

    call: Call
    new: NewCandidate


@dataclass(frozen=True)
class FailedCall:
    call: Call
    persona: str
    operator: Operator


@dataclass(frozen=True)
class Event:
    kind: EventKind
    payload: Mapping[str, Any]


Decision = Start | Requeue | Record | Confirm | Finish | Migrate | Propose | FailedCall | Event


class Ledger:
    def __init__(self, db: lineage.Database, campaign_id: int, islands: int, pareto: bool = False,
                 seed_files: Mapping[str, str] | None = None):
        self.db, self.cid = db, campaign_id
        self.pop = Population.from_db(db, campaign_id, islands, pareto)
        self.seed_files = dict(seed_files or {})  # the task's files: a candidate stores those it changed
        self._tx: Transaction | None = None
        self._files: dict[int, dict[str, str]] = {}

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The ledger calls made inside are one transaction (nested batches join the outer one)."""
        if self._tx is not None:
            yield
            return
        with lineage.transaction(self.db) as tx:
            self._tx = tx
            try:
                yield
            finally:
                self._tx = None

    @contextmanager
    def _writing(self) -> Iterator[Transaction]:
        if self._tx is not None:
            yield self._tx
        else:
            with lineage.transaction(self.db) as tx:
                yield tx

    def write(self, d: Decision) -> Candidate | float | None:
        """Store a decision and apply it to the view; a proposal gives the candidate as stored, a finish its
        fitness."""
        return _WRITERS[type(d)](self, d)

    def _event(self, d: Event) -> None:
        with self._writing() as tx:
            tx.event(self.cid, d.kind, d.payload)

    def next_event_no(self) -> int:
        """The number of the next proposal (its randomness derives from it)."""
        n = self.pop.next_event
        self.pop.next_event += 1
        return n

    # -- reads the campaign needs beside its view -------------------------------------------------------

    def files(self, cand_id: int) -> dict[str, str]:
        """A candidate's whole program: the task's files with those it stored over them (a few recent ones
        are kept: parents are read again and again). Do not change the returned dict."""
        if cand_id not in self._files:
            if len(self._files) > 256:
                self._files.clear()
            self._files[cand_id] = {**self.seed_files, **lineage.candidate_files(self.db, cand_id)}
        return self._files[cand_id]

    def curve(self, cand_id: int, seed: int) -> tuple[tuple[int, ...], tuple[float, ...], float] | None:
        """The monitoring curve and fitness of an ok evaluation (what pruning compares against)."""
        return lineage.curve(self.db, cand_id, seed)

    # -- candidates -------------------------------------------------------------------------------------

    def new_candidate(self, **fields: Any) -> NewCandidate:
        """A child of the view's candidates, its lineage facts decided from them (facts.descent)."""
        parents = [self.pop.cands[p] for p in (fields.get("parent_id"), fields.get("parent2_id")) if p is not None]
        generation, parent_fitness = descent(parents)
        return NewCandidate(generation=generation, parent_fitness=parent_fitness, **fields)

    def _start(self, d: Start) -> None:
        self._queued(d.candidate, RUNNING)

    def _requeue(self, d: Requeue) -> None:
        self._queued(d.candidate, PENDING)

    def _queued(self, cand_id: int, status: Queued) -> None:
        """pending <-> running. The first start fixes the candidate's staleness: the evaluations that finished
        after its parent was chosen."""
        c = self.pop.cands[cand_id]
        if c.status != status:
            stale = (self.pop.evals_done - c.chosen_after if status == RUNNING and c.staleness is None
                     and c.chosen_after is not None else None)
            with self._writing() as tx:
                tx.set_status(cand_id, status, staleness=stale)
            self.pop.apply(replace(c, status=status, staleness=c.staleness if stale is None else stale))

    def _record(self, d: Record) -> None:
        cand_id, result = d.candidate, d.result
        replaces = result.seed in self.pop.evals_of(cand_id)  # only an interrupted one can be re-run
        with self._writing() as tx:
            tx.evaluation(cand_id, result, replaces=replaces)
        self.pop.apply(Evaluated(cand_id, stored(result)))

    def _confirm(self, d: Confirm) -> None:
        self._event(Event(EventKind.CONFIRMATION, {"candidate": d.candidate, **d.payload}))
        self.pop.apply(Confirming(d.candidate))

    def _finish(self, d: Finish) -> float | None:
        cand_id, status, reason = d.candidate, d.status, d.reason
        results = self.pop.evals_of(cand_id).values()
        fitness, flops = (facts.fitness(results), facts.mean_flops(results)) if status == OK else (None, None)
        with self._writing() as tx:
            tx.finish(cand_id, status, reason, fitness, flops, children=bool(self.pop.kids.get(cand_id)))
        self.pop.apply(replace(self.pop.cands[cand_id], status=status, reason=reason, fitness=fitness,
                               train_flops=flops))
        return fitness

    def _migrate(self, d: Migrate) -> None:
        source, target, ids = d.source, d.target, list(d.ids)
        round_no = self.pop.migrations_done[source] + 1
        with self._writing() as tx:
            tx.migration(self.cid, source, target, round_no, ids)
        for cid in ids:
            self.pop.apply(Joined(cid, target))
        self.pop.apply(Migrated(source, round_no))

    # -- LLM calls --------------------------------------------------------------------------------------

    def _propose(self, d: Propose) -> Candidate:
        call, new = d.call, d.new
        with self._writing() as tx:
            cid = tx.proposal(self.cid, call, new)
        c = new.stored(cid)
        for fact in (c, Joined(cid, new.island), Spent(call.cost_usd)):
            self.pop.apply(fact)
        return c

    def _failed_call(self, d: FailedCall) -> None:
        with self._writing() as tx:
            tx.llm_call(self.cid, persona=d.persona, operator=d.operator, **d.call.row())
        self.pop.apply(Spent(d.call.cost_usd))


_WRITERS = {Start: Ledger._start, Requeue: Ledger._requeue, Record: Ledger._record, Confirm: Ledger._confirm,
            Finish: Ledger._finish, Migrate: Ledger._migrate, Propose: Ledger._propose,
            FailedCall: Ledger._failed_call, Event: Ledger._event}
