"""The evaluation half of the campaign: which job runs next in a free slot, and what a finished evaluation
decides (the candidate's final status, confirmation seeds, the migration it triggers).

The campaign loop (evolve/campaign.py) says when to start jobs and hands over each finished evaluation;
the Evaluations decide and record through the ledger. The queue is the set of pending candidates and the
(candidate, seed) jobs each still needs: a candidate that would become its island's best is evaluated on
the confirmation seeds before it counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from evolve import islands as isl
from evolve.config import CampaignConfig
from evolve.executors import Job
from evolve.kinds import Operator
from evolve.ledger import Ledger
from evolve.lineage import PENDING, RUNNING, Candidate
from scoring import prune
from scoring.result import INTERRUPTED, OK, ScoreResult


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
        self.ledger, self.pop = ledger, ledger.pop  # the view is read here; changes go through the ledger
        self.cfg, self.folder, self.note = config, folder, note  # note: a line for the live view's log
        self.seeds = [config.evaluation.seed + i for i in range(config.evaluation.confirm_seeds + 1)]
        self.slots: list[Slot | None] = [None] * slots  # what each evaluation slot is running
        self.walls: list[float] = []  # wall time of each finished evaluation, for the ETA

    def resume(self) -> None:
        """On (re)start: what was running is queued again; what a crash left undecided is decided."""
        with self.ledger.batch():
            for c in self.pop.unfinished():
                if c.status == RUNNING:
                    self.ledger.set_queued(c.id, PENDING)
            for c in list(self.pop.unfinished()):
                self._decide(c.id)

    def required(self, c: Candidate) -> list[int]:
        return self.seeds if (c.operator == Operator.SEED or c.id in self.pop.confirming) else self.seeds[:1]

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

    def start(self, max_evals: int) -> list[tuple[int, Job]]:
        """The jobs for the free slots, within `max_evals` evaluations finished and running, each marked
        running; the campaign loop submits them (slot, job) to its executor."""
        jobs = []
        with self.ledger.batch():  # the `running` marks of the jobs started together: one transaction
            while None in self.slots and self.pop.evals_done + self.running() < max_evals:
                job = self.next_job()
                if job is None:
                    break
                c, seed = job
                slot = self.slots.index(None)
                self.ledger.set_queued(c.id, RUNNING)
                workdir = self.folder / "runs" / f"{c.id:06d}-seed{seed}"
                jobs.append((slot, Job(c.id, seed, self.ledger.files(c.id), str(workdir), self._rule(c, seed))))
                self.slots[slot] = Slot(c.id, seed, c.persona, time.monotonic())
        return jobs

    def finished(self, slot: int, result: ScoreResult) -> None:
        """The evaluation in `slot` ended: recorded, and what it decides decided, in one transaction."""
        cid, seed = self.slots[slot].candidate_id, self.slots[slot].seed
        self.slots[slot] = None
        if result.wall_s:
            self.walls.append(result.wall_s)
        loss = f"{result.best_vloss:.4f}" if result.best_vloss is not None else "-"
        self.note(f"#{cid} seed {seed}: {result.status} {loss}")
        with self.ledger.batch():  # the evaluation and what it decides, committed together
            self.ledger.evaluated(cid, result)
            if result.status != INTERRUPTED:
                self._decide(cid)
            elif not self._is_running(cid):
                self.ledger.set_queued(cid, PENDING)

    def _is_running(self, cid: int) -> bool:
        return any(s is not None and s.candidate_id == cid for s in self.slots)

    def _failed(self, cid: int) -> list[ScoreResult]:
        return [r for _, r in sorted(self.pop.evals_of(cid).items()) if r.status not in (OK, INTERRUPTED)]

    def _decide(self, cid: int) -> None:
        """After an evaluation (or on resume): finish the candidate, or ask for confirmation seeds."""
        c = self.pop.cands[cid]
        if c.status not in (PENDING, RUNNING):
            return
        failure = self._failure(cid)
        if failure is not None:
            self._finish(c, *failure)
            return
        first = self.pop.evals_of(cid).get(self.seeds[0])
        if first is None or first.status != OK:
            return
        if self._settled_by_first(c, first.best_vloss):
            self._finish(c, OK, "")
        elif self._all_ok(c):
            self._finish(c, OK, "")
        elif c.status == RUNNING and not self._is_running(cid):
            self.ledger.set_queued(cid, PENDING)

    def _all_ok(self, c: Candidate) -> bool:
        """Every seed `c` needs evaluated is, and ok."""
        evals = self.pop.evals_of(c.id)
        return all(s in evals and evals[s].status == OK for s in self.required(c))

    def _failure(self, cid: int) -> tuple[str, str] | None:
        """(status, reason) of the candidate's first failed evaluation: it fails as that one did."""
        failed = self._failed(cid)
        if not failed:
            return None
        first = failed[0]
        where = "" if first.seed == self.seeds[0] else f"confirmation seed {first.seed}: "
        return first.status, where + first.reason

    def _settled_by_first(self, c: Candidate, loss: float) -> bool:
        """A child's first ok result settles it (True), unless it is promising: then its confirmation seeds
        are recorded. A starting program, or a child already confirming, is settled by all its seeds."""
        if c.operator == Operator.SEED or c.id in self.pop.confirming:
            return False
        best = self.pop.best(c.island)
        if len(self.seeds) < 2 or not self._promising(c, loss, best):
            return True
        self.ledger.confirm(c.id, {"first_vloss": loss, "island": c.island,
                                   "island_best": best.fitness if best else None, "seeds": self.seeds[1:]})
        return False

    def _promising(self, c: Candidate, loss: float, best: Candidate | None) -> bool:
        """Worth confirmation seeds: it would become its island's best, or with the Pareto objective, join
        the island's front over (loss, training FLOPs)."""
        if not self.pop.pareto:
            return best is None or loss < best.fitness
        return isl.enters_front(loss, self.pop.flops(c.id, self.seeds[0]), self.pop.individuals(c.island))

    def _finish(self, c: Candidate, status: str, reason: str) -> None:
        fitness = self.ledger.finish(c.id, status, reason)
        if status == OK:
            best = self.pop.best()
            if best is not None and best.id == c.id:
                self.note(f"new best #{c.id}: {fitness:.4f}")
        self._maybe_migrate(c.island)

    def _maybe_migrate(self, island: int) -> None:
        n = self.cfg.islands.count
        if n < 2:
            return
        interval = self.cfg.migration.interval
        while self.pop.finished_on(island) >= (self.pop.migrations_done[island] + 1) * interval:
            target = isl.ring_target(island, n)
            ids = isl.migrants(self.pop.individuals(island), self.cfg.migration.top_k, self.pop.pareto)
            self.ledger.migrate(island, target, ids)
            self.note(f"migration {island} -> {target}: {ids}")
