"""The evaluation half of the campaign: which job runs next in a free slot, and what a finished evaluation
decides (the candidate's final status, confirmation seeds, the migration it triggers).

The campaign loop (evolve/campaign.py) says when to start jobs and hands over each finished evaluation;
the Evaluations decide and the loop writes: each method yields its decisions (evolve/ledger.py's values)
one at a time, and the loop writes each through the ledger before the next is decided, so every decision
reads the view the previous one left (a finish, then the migration it completes). The queue is the set of
pending candidates and the (candidate, seed) jobs each still needs: a candidate that would become its
island's best is evaluated on the confirmation seeds before it counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from evolve import islands as isl
from evolve.config import CampaignConfig
from evolve.executors import Job
from evolve.kinds import Operator
from evolve.ledger import Confirm, Decision, Finish, Ledger, Migrate, Record, Requeue, Start
from evolve.lineage import PENDING, RUNNING, Candidate
from scoring import prune
from scoring.result import INTERRUPTED, OK, ScoreResult, Status


@dataclass(frozen=True)
class Slot:
    candidate_id: int
    seed: int
    persona: str | None
    started: float


def result_of(fut: Future, seed: int) -> ScoreResult:
    """A finished evaluation's result; the executor's own failure (not the candidate's) is an interruption:
    the job is re-run later."""
    try:
        return fut.result()
    except Exception as e:  # noqa: BLE001 - whatever the executor raised, the evaluation did not happen
        return ScoreResult(INTERRUPTED, f"executor error: {type(e).__name__}: {e}", seed)


class Evaluations:
    def __init__(self, *, ledger: Ledger, config: CampaignConfig, slots: int, folder: Path,
                 note: Callable[[str], None]):
        self.ledger, self.pop = ledger, ledger.pop  # read here (the view, files, curves); the loop writes
        self.cfg, self.folder, self.note = config, folder, note  # note: a line for the live view's log
        self.seeds = [config.evaluation.seed + i for i in range(config.evaluation.confirm_seeds + 1)]
        self.slots: list[Slot | None] = [None] * slots  # what each evaluation slot is running
        self.walls: list[float] = []  # wall time of each finished evaluation, for the ETA

    def resume(self) -> Iterator[Decision]:
        """On (re)start: what was running is queued again; what a crash left undecided is decided."""
        for c in [c for c in self.pop.unfinished() if c.status == RUNNING]:
            yield Requeue(c.id)
        for c in list(self.pop.unfinished()):
            yield from self._decide(c.id)

    def _on_all_seeds(self, c: Candidate) -> bool:
        """A starting program, or a child confirming: evaluated on every seed before it is settled."""
        return c.operator == Operator.SEED or c.id in self.pop.confirming

    def required(self, c: Candidate) -> list[int]:
        return self.seeds if self._on_all_seeds(c) else self.seeds[:1]

    def busy(self) -> set[tuple[int, int]]:
        """(candidate, seed) of each running evaluation."""
        return {(s.candidate_id, s.seed) for s in self.slots if s is not None}

    def running(self) -> int:
        return sum(s is not None for s in self.slots)

    def _todo(self, c: Candidate, busy: set[tuple[int, int]]) -> list[int]:
        """The seeds `c` still needs evaluated that are not running."""
        evals = self.pop.evals_of(c.id)
        return [s for s in self.required(c)
                if (evals.get(s) is None or evals[s].status == INTERRUPTED) and (c.id, s) not in busy]

    def next_job(self) -> tuple[Candidate, int] | None:
        busy = self.busy()
        todo = [c for c in self.pop.unfinished() if not self._failed(c.id)]
        evals = self.pop.evals_of
        todo.sort(key=lambda c: (len(evals(c.id)) == 0, c.operator != Operator.SEED, c.id))  # confirmations first
        for c in todo:
            seeds = self._todo(c, busy)
            if seeds:
                return c, seeds[0]
        return None

    def _rule(self, c: Candidate, seed: int) -> prune.Rule | None:
        """What the referee may prune this evaluation against: the reference recorded when `c` was proposed,
        on the first seed only (a confirmation seed is never pruned), when pruning is on."""
        p = self.cfg.pruning
        if not p.enabled or seed != self.seeds[0] or c.prune_reference is None or c.operator == Operator.SEED:
            return None
        ref = self.ledger.curve(c.prune_reference, seed)
        if ref is None:
            return None
        steps, losses, fitness = ref
        return prune.Rule(p.warmup, p.margin, c.prune_reference, steps, prune.held_to(losses, fitness))

    def queued(self) -> int:
        """Jobs waiting for a slot."""
        busy = self.busy()
        return sum(len(self._todo(c, busy)) for c in self.pop.unfinished())

    def start(self, max_evals: int) -> Iterator[Start]:
        """The jobs for the free slots, within `max_evals` evaluations finished and running: a Start for each
        (the loop writes it, then submits its job to its executor)."""
        while None in self.slots and self.pop.evals_done + self.running() < max_evals:
            job = self.next_job()
            if job is None:
                return
            c, seed = job
            slot = self.slots.index(None)
            workdir = self.folder / "runs" / f"{c.id:06d}-seed{seed}"
            self.slots[slot] = Slot(c.id, seed, c.persona, time.monotonic())
            yield Start(c.id, slot, Job(c.id, seed, self.ledger.files(c.id), str(workdir), self._rule(c, seed)))

    def finished(self, slot: int, result: ScoreResult) -> Iterator[Decision]:
        """The evaluation in `slot` ended: its record, then what it decides (the loop commits them together)."""
        cid, seed = self.slots[slot].candidate_id, self.slots[slot].seed
        self.slots[slot] = None
        if result.wall_s:
            self.walls.append(result.wall_s)
        loss = f"{result.best_vloss:.4f}" if result.best_vloss is not None else "-"
        self.note(f"#{cid} seed {seed}: {result.status} {loss}")
        yield Record(cid, result)
        if result.status != INTERRUPTED:
            yield from self._decide(cid)
        elif not self._is_running(cid):
            yield Requeue(cid)

    def _is_running(self, cid: int) -> bool:
        return any(s is not None and s.candidate_id == cid for s in self.slots)

    def _failed(self, cid: int) -> list[ScoreResult]:
        return [r for _, r in sorted(self.pop.evals_of(cid).items()) if r.status not in (OK, INTERRUPTED)]

    def _decide(self, cid: int) -> Iterator[Decision]:
        """After an evaluation (or on resume): finish the candidate, or ask for confirmation seeds."""
        c = self.pop.cands[cid]
        if c.status not in (PENDING, RUNNING):
            return
        failure = self._failure(cid)
        if failure is not None:
            yield from self._finish(c, *failure)
            return
        first = self.pop.evals_of(cid).get(self.seeds[0])
        if first is None or first.status != OK:
            return
        confirm = self._confirmation(c, first.best_vloss)
        if confirm is not None:
            yield confirm
        elif not self._on_all_seeds(c) or self._all_ok(c):  # a child's first ok result settles it
            yield from self._finish(c, OK, "")
        if self.pop.cands[cid].status == RUNNING and not self._is_running(cid):
            yield Requeue(cid)

    def _all_ok(self, c: Candidate) -> bool:
        """Every seed `c` needs evaluated is, and ok."""
        evals = self.pop.evals_of(c.id)
        return all(s in evals and evals[s].status == OK for s in self.required(c))

    def _failure(self, cid: int) -> tuple[Status, str] | None:
        """(status, reason) of the candidate's first failed evaluation: it fails as that one did."""
        failed = self._failed(cid)
        if not failed:
            return None
        first = failed[0]
        where = "" if first.seed == self.seeds[0] else f"confirmation seed {first.seed}: "
        return first.status, where + first.reason

    def _confirmation(self, c: Candidate, loss: float) -> Confirm | None:
        """A child not yet confirming whose first result is promising: its confirmation seeds."""
        if self._on_all_seeds(c) or len(self.seeds) < 2:
            return None
        best = self.pop.best(c.island)
        if not self._promising(c, loss, best):
            return None
        return Confirm(c.id, {"first_vloss": loss, "island": c.island,
                              "island_best": best.fitness if best else None, "seeds": self.seeds[1:]})

    def _promising(self, c: Candidate, loss: float, best: Candidate | None) -> bool:
        """Worth confirmation seeds: it would become its island's best, or with the Pareto objective, join
        the island's front over (loss, training FLOPs)."""
        if not self.pop.pareto:
            return best is None or loss < best.fitness
        return isl.enters_front(loss, self.pop.flops(c.id, self.seeds[0]), self.pop.individuals(c.island))

    def _finish(self, c: Candidate, status: Status, reason: str) -> Iterator[Decision]:
        yield Finish(c.id, status, reason)
        best = self.pop.best()
        if status == OK and best is not None and best.id == c.id:
            self.note(f"new best #{c.id}: {best.fitness:.4f}")
        yield from self._migrations(c.island)

    def _migrations(self, island: int) -> Iterator[Migrate]:
        """The migration rounds the island's finished candidates complete (each written before the next)."""
        n = self.cfg.islands.count
        if n < 2:
            return
        interval = self.cfg.migration.interval
        while self.pop.finished_on(island) >= (self.pop.migrations_done[island] + 1) * interval:
            target = isl.ring_target(island, n)
            ids = isl.migrants(self.pop.individuals(island), self.cfg.migration.top_k, self.pop.pareto)
            self.note(f"migration {island} -> {target}: {ids}")
            yield Migrate(island, target, tuple(ids))
