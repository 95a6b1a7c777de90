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
from evolve.lineage import PENDING, RUNNING, Candidate, curve
from scoring import prune
from scoring.result import INTERRUPTED, OK, ScoreResult


@dataclass(frozen=True)
class Slot:
    candidate_id: int
    seed: int
    persona: str | None
    started: float


class Evaluations:
    def __init__(self, *, ledger: Ledger, config: CampaignConfig, executor, folder: Path,
                 files: Callable[[int], dict[str, str]], note: Callable[[str], None]):
        self.ledger, self.pop = ledger, ledger.pop  # the view is read here; changes go through the ledger
        self.cfg, self.executor, self.folder, self.files, self.note = config, executor, folder, files, note
        self.seeds = [config.evaluation.seed + i for i in range(config.evaluation.confirm_seeds + 1)]
        self.running: dict[Future, tuple[int, int, int]] = {}  # future -> (slot, candidate, seed)
        self.slots: list[Slot | None] = [None] * executor.slots
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

    def _busy(self) -> set[tuple[int, int]]:
        return {(cid, seed) for _, cid, seed in self.running.values()}

    def _todo(self, c: Candidate, busy: set[tuple[int, int]]) -> list[int]:
        """The seeds `c` still needs evaluated that are not running."""
        evals = self.pop.evals_of(c.id)
        return [s for s in self.required(c)
                if (evals.get(s) is None or evals[s][0] == INTERRUPTED) and (c.id, s) not in busy]

    def next_job(self) -> tuple[Candidate, int] | None:
        busy = self._busy()
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
        ref = curve(self.ledger.db, c.prune_reference, seed)
        if ref is None:
            return None
        steps, losses, fitness = ref
        return prune.Rule(p.warmup, p.margin, c.prune_reference, steps, prune.held_to(losses, fitness))

    def queued(self) -> int:
        """Jobs waiting for a slot."""
        busy = self._busy()
        return sum(len(self._todo(c, busy)) for c in self.pop.unfinished())

    def start(self) -> None:
        """Fill the free slots, within the evaluation budget."""
        with self.ledger.batch():  # the `running` marks of the jobs started together: one transaction
            while None in self.slots and self.pop.evals_done + len(self.running) < self.cfg.budget.max_evals:
                job = self.next_job()
                if job is None:
                    return
                c, seed = job
                slot = self.slots.index(None)
                self.ledger.set_queued(c.id, RUNNING)
                workdir = self.folder / "runs" / f"{c.id:06d}-seed{seed}"
                fut = self.executor.submit(slot, Job(c.id, seed, self.files(c.id), str(workdir), self._rule(c, seed)))
                self.running[fut] = (slot, c.id, seed)
                self.slots[slot] = Slot(c.id, seed, c.persona, time.monotonic())

    def finished(self, fut: Future) -> None:
        slot, cid, seed = self.running.pop(fut)
        self.slots[slot] = None
        try:
            result: ScoreResult = fut.result()
        except Exception as e:  # the executor itself failed (not the candidate): re-run it later
            result = ScoreResult(INTERRUPTED, f"executor error: {type(e).__name__}: {e}", seed)
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
        return any(v[1] == cid for v in self.running.values())

    def _failed(self, cid: int) -> list[tuple[int, str]]:
        return [(s, st) for s, (st, _) in sorted(self.pop.evals_of(cid).items()) if st not in (OK, INTERRUPTED)]

    def _decide(self, cid: int) -> None:
        """After an evaluation (or on resume): finish the candidate, or ask for confirmation seeds."""
        c = self.pop.cands[cid]
        if c.status not in (PENDING, RUNNING):
            return
        failed = self._failed(cid)
        if failed:
            seed, status = failed[0]
            reason = self.pop.reasons.get((cid, seed), "")
            if seed != self.seeds[0]:
                reason = f"confirmation seed {seed}: {reason}"
            self._finish(c, status, reason)
            return
        evals = self.pop.evals_of(cid)
        first = evals.get(self.seeds[0])
        if first is None or first[0] != OK:
            return
        if c.operator != Operator.SEED and c.id not in self.pop.confirming:
            best = self.pop.best(c.island)
            if len(self.seeds) > 1 and self._promising(c, first[1], best):
                self.ledger.confirm(cid, {"first_vloss": first[1], "island": c.island,
                                          "island_best": best.fitness if best else None, "seeds": self.seeds[1:]})
            else:
                self._finish(c, OK, "")
                return
        if all((e := evals.get(s)) is not None and e[0] == OK for s in self.required(c)):
            self._finish(c, OK, "")
        elif c.status == RUNNING and not self._is_running(cid):
            self.ledger.set_queued(cid, PENDING)

    def _promising(self, c: Candidate, loss: float, best: Candidate | None) -> bool:
        """Worth confirmation seeds: it would become its island's best, or with the Pareto objective, join
        the island's front over (loss, training FLOPs)."""
        if not self.pop.pareto:
            return best is None or loss < best.fitness
        return isl.enters_front(loss, self.pop.flops.get((c.id, self.seeds[0])), self.pop.individuals(c.island))

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
