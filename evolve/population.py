"""The campaign's working view of its lineage: an in-memory mirror of database rows.

The database is the truth. This mirror is rebuilt from its rows when a campaign starts or resumes, and
updated only by evolve/ledger.py, in the transaction that writes the matching rows, so a `kill -9` loses
nothing the mirror knew. It exists so that choosing a parent, a persona or the next job costs the same
with ten candidates or ten thousand.

Candidates are the lineage's frozen values (`lineage.Candidate`): a change replaces the value, so one
read elsewhere never changes under its reader. What an evaluation left (status and loss by seed, the log
tail of a failure) is kept beside them, in `evals` and `tails`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from evolve import lineage, pareto
from evolve.islands import Individual
from evolve.kinds import Operator
from evolve.lineage import PENDING, RUNNING, Candidate
from evolve.operators.context import Attempt, Change
from scoring.result import INTERRUPTED, OK, REJECTED

FAILED_FOR_REPAIR = ("crashed", "timeout", "invalid_result", "over_budget")  # what repair can plausibly fix
_NOT_FINISHED = (PENDING, RUNNING, REJECTED, "constraint_violation")  # migration counts the others


def _finished(c: Candidate) -> int:
    """1 when `c` counts towards its island's migration interval: born there, past screening, finished."""
    return int(c.status not in _NOT_FINISHED and c.operator != Operator.SEED)


@dataclass
class Population:
    islands: int
    pareto: bool = False  # the task's objective: (loss, training FLOPs) together instead of the loss alone
    cands: dict[int, Candidate] = field(default_factory=dict)
    evals: dict[int, dict[int, tuple[str, float | None]]] = field(default_factory=lambda: defaultdict(dict))
    tails: dict[int, str] = field(default_factory=dict)  # candidate -> log tail of its last failed evaluation
    reasons: dict[tuple[int, int], str] = field(default_factory=dict)  # (candidate, seed) -> why it failed
    flops: dict[tuple[int, int], float] = field(default_factory=dict)  # (candidate, seed) -> training FLOPs
    members: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    hashes: dict[str, int] = field(default_factory=dict)  # code hash -> the candidate that has it
    kids: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # first parent -> children
    migrations_done: Counter = field(default_factory=Counter)  # source island -> migration rounds recorded
    cost_usd: float = 0.0
    llm_calls: int = 0  # rows in llm_calls: the LLM-call budget counts them
    evals_done: int = 0  # finished evaluations (interrupted ones do not count)
    next_event: int = 0
    seed_ids: list[int] = field(default_factory=list)  # the starting programs (operator 'seed')
    confirming: set[int] = field(default_factory=set)  # chosen for confirmation seeds (events say so)
    open_ids: set[int] = field(default_factory=set)  # pending or running
    # Answers of the O(N) reads, dropped whenever a candidate is added, joins an island or finishes: the
    # loop asks them on every pass, the population changes a few times per candidate.
    _memo: dict = field(default_factory=dict, repr=False)
    # Kept up to date on every change instead, so a change costs O(1) (O(children) for a finish) however
    # large the lineage: selection's view of each candidate, the bandit's credit, finished per island.
    _ind: dict[int, Individual] = field(default_factory=dict, repr=False)
    _credit: dict[int, tuple[str, bool]] = field(default_factory=dict, repr=False)  # child -> (persona, improved)
    _record: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]), repr=False)
    _finished: Counter = field(default_factory=Counter, repr=False)

    @classmethod
    def from_db(cls, db: lineage.Database, campaign_id: int, islands: int, pareto: bool = False) -> Population:
        pop = cls(islands, pareto)
        _, rows = lineage.export_rows(db, campaign_id, "candidates")
        for r in rows:
            pop.add(Candidate(r["id"], r["island"], r["parent_id"], r["parent2_id"], r["operator"], r["persona"],
                              r["status"], r["reason"] or "", r["fitness"], r.get("summary") or "",
                              model=r["model"], generation=r["generation"], event_no=r["event_no"],
                              code_hash=r["code_hash"], train_flops=r.get("train_flops"),
                              prune_reference=r.get("prune_reference"), chosen_after=r.get("chosen_after"),
                              staleness=r.get("staleness")),
                    member=False)
            pop.next_event = max(pop.next_event, r["event_no"] + 1)
        _, rows = lineage.export_rows(db, campaign_id, "evaluations")
        for r in rows:
            pop.record_eval(r["candidate_id"], r["seed"], r["status"], r["best_vloss"], r["log_tail"] or "",
                            r["reason"] or "", r.get("train_flops"))
        _, rows = lineage.export_rows(db, campaign_id, "memberships")
        for r in rows:
            pop.members[r["island"]].append(r["candidate_id"])
        _, rows = lineage.export_rows(db, campaign_id, "events")
        for r in rows:
            if r["kind"] == "migration":
                pop.migrations_done[r["payload"]["from"]] += 1
            elif r["kind"] == "confirmation":
                pop.confirm(r["payload"]["candidate"])
        _, rows = lineage.export_rows(db, campaign_id, "llm_calls")
        pop.cost_usd = sum(r["cost_usd"] or 0.0 for r in rows)
        pop.llm_calls = len(rows)
        return pop

    # -- updates (each mirrors a row just written) ------------------------------------------------------

    def add(self, cand: Candidate, member: bool = True) -> None:
        self._memo.clear()
        self.cands[cand.id] = cand
        if cand.status in (PENDING, RUNNING):
            self.open_ids.add(cand.id)
        if cand.code_hash:
            self.hashes.setdefault(cand.code_hash, cand.id)
        if cand.parent_id is not None:
            self.kids[cand.parent_id].append(cand.id)
            if cand.parent_id in self.cands:
                self._reindex(cand.parent_id)
        if cand.operator == Operator.SEED:
            self.seed_ids.append(cand.id)
        if member:
            self.members[cand.island].append(cand.id)
        self._reindex(cand.id)
        self._recredit(cand)
        self._finished[cand.island] += _finished(cand)

    def record_eval(self, cand_id: int, seed: int, status: str, vloss: float | None, tail: str = "",
                    reason: str = "", train_flops: float | None = None) -> None:
        evals = self.evals[cand_id]
        if status != INTERRUPTED and (seed not in evals or evals[seed][0] == INTERRUPTED):
            self.evals_done += 1
        evals[seed] = (status, vloss)
        if train_flops is not None:
            self.flops[cand_id, seed] = train_flops
        if status != OK and status != INTERRUPTED:
            self.tails[cand_id] = tail
            self.reasons[cand_id, seed] = reason

    def set_queued(self, cand_id: int, status: str, staleness: int | None = None) -> None:
        """pending <-> running; `staleness` once, at the first start."""
        c = self.cands[cand_id]
        self.cands[cand_id] = replace(c, status=status, staleness=c.staleness if staleness is None else staleness)

    def join(self, island: int, cand_id: int) -> None:
        if cand_id not in self.members[island]:
            self._memo.clear()
            self.members[island].append(cand_id)

    def finish(self, cand_id: int, status: str, reason: str, fitness: float | None,
               train_flops: float | None = None) -> None:
        self._memo.clear()
        old = self.cands[cand_id]
        self._finished[old.island] -= _finished(old)
        cand = self.cands[cand_id] = replace(old, status=status, reason=reason, fitness=fitness,
                                             train_flops=train_flops)
        self._finished[cand.island] += _finished(cand)
        self.open_ids.discard(cand.id)
        self._reindex(cand.id)
        self._recredit(cand)
        for kid in self.kids.get(cand.id, ()):  # "better than its parent" moves with the parent's fitness
            self._recredit(self.cands[kid])

    def _reindex(self, cand_id: int) -> None:
        c = self.cands[cand_id]
        first = self._provisional(c)
        fitness = first if first is not None else c.fitness if c.status == OK else None
        self._ind[cand_id] = Individual(cand_id, fitness, len(self.kids.get(cand_id, ())), c.train_flops,
                                        provisional=first is not None)

    def _provisional(self, c: Candidate) -> float | None:
        """The first evaluation's loss of a candidate waiting for its confirmation seeds, when it beats its
        parent by more than the seed program's spread over seeds (its noise): such a child may be a parent
        before it is confirmed, so an improving line is extended one evaluation sooner. None otherwise."""
        if self.pareto or c.id not in self.confirming or c.status not in (PENDING, RUNNING):
            return None
        evals, parent = self.evals.get(c.id), self._ind.get(c.parent_id)  # the parent may be provisional too
        noise = self.noise()
        if not evals or parent is None or parent.fitness is None or noise is None:
            return None
        status, loss = evals[min(evals)]
        return loss if status == OK and loss is not None and loss < parent.fitness - noise else None

    def noise(self) -> float | None:
        """The best starting program's spread of losses over its evaluation seeds (None with fewer than two)."""
        seed = self.seed()
        losses = [v for st, v in self.evals.get(seed.id, {}).values() if st == OK] if seed else []
        return max(losses) - min(losses) if len(losses) >= 2 else None

    def confirm(self, cand_id: int) -> None:
        """`cand_id` is to be evaluated on the confirmation seeds (it may now be a provisional parent)."""
        self._memo.clear()
        self.confirming.add(cand_id)
        self._reindex(cand_id)

    def standing(self, cand_id: int) -> float | None:
        """The fitness selection sees: the fitness, or a provisional one (see `_provisional`)."""
        return self._ind[cand_id].fitness

    def line(self, cand_id: int) -> set[int]:
        """`cand_id` with its ancestors and its descendants: one line of descent."""
        out, todo = {cand_id}, [cand_id]
        while todo:
            c = self.cands.get(todo.pop())
            for p in (c.parent_id, c.parent2_id) if c else ():
                if p is not None and p not in out:
                    out.add(p)
                    todo.append(p)
        todo = [cand_id]
        while todo:
            for kid in self.kids.get(todo.pop(), ()):
                if kid not in out:
                    out.add(kid)
                    todo.append(kid)
        return out

    def _recredit(self, c: Candidate) -> None:
        """The bandit's credit for `c` as a child: counted once finished, improved when ok and better than
        its first parent is now."""
        old = self._credit.pop(c.id, None)
        if old is not None:
            self._record[old[0]][0] -= 1
            self._record[old[0]][1] -= old[1]
        if c.persona is None or c.status in (PENDING, RUNNING):
            return
        parent = self.cands.get(c.parent_id) if c.parent_id is not None else None
        improved = bool(c.status == OK and parent and parent.fitness is not None and c.fitness is not None
                        and self.improves(c, parent))
        self._credit[c.id] = (c.persona, improved)
        self._record[c.persona][0] += 1
        self._record[c.persona][1] += improved

    def improves(self, child: Candidate, parent: Candidate) -> bool:
        """Better than the parent: a lower loss, or with the Pareto objective, dominating it over (loss, cost)."""
        if not self.pareto:
            return child.fitness < parent.fitness
        return pareto.dominates(self._ind[child.id].point, self._ind[parent.id].point)

    def _memoized(self, key, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- reads ------------------------------------------------------------------------------------------

    def individuals(self, island: int) -> list[Individual]:
        """The island's members as selection sees them (a shared list: do not change it)."""
        return self._memoized(("individuals", island), lambda: [self._ind[i] for i in self.members[island]])

    def best(self, island: int | None = None) -> Candidate | None:
        return self._memoized(("best", island), lambda: self._best(island))

    def _best(self, island: int | None) -> Candidate | None:
        ids = self.members[island] if island is not None else list(self.cands)
        scored = [self.cands[i] for i in ids if self.cands[i].status == OK and self.cands[i].fitness is not None]
        return min(scored, key=lambda c: (c.fitness, c.id)) if scored else None

    def seed(self) -> Candidate | None:
        """The best starting program (the task's seed, or the best one imported with --from)."""
        seeds = [self.cands[i] for i in self.seed_ids]
        scored = [c for c in seeds if c.fitness is not None]
        return min(scored, key=lambda c: (c.fitness, c.id)) if scored else (seeds[0] if seeds else None)

    def failed(self, island: int) -> list[Candidate]:
        return self._memoized(("failed", island), lambda: [
            self.cands[i] for i in self.members[island] if self.cands[i].status in FAILED_FOR_REPAIR])

    def evals_of(self, cand_id: int) -> dict[int, tuple[str, float | None]]:
        """seed -> (status, best_vloss) of each evaluation recorded (do not change it)."""
        return self.evals.get(cand_id, {})

    def unfinished(self) -> list[Candidate]:
        return [self.cands[i] for i in sorted(self.open_ids)]

    def finished_on(self, island: int) -> int:
        """Candidates born on the island that reached a final status (screen rejections excluded)."""
        return self._finished[island]

    def persona_record(self) -> dict[str, tuple[int, int]]:
        """persona -> (finished children, children better than their first parent): the bandit's reward."""
        return {p: (n, w) for p, (n, w) in self._record.items() if n}

    def recent_changes(self, island: int, k: int) -> tuple[Change, ...]:
        """The island's newest improving children, newest first, with their fitness delta."""
        out = []
        for cid in sorted((i for i in self.members[island]), reverse=True):
            c = self.cands[cid]
            parent = self.cands.get(c.parent_id) if c.parent_id is not None else None
            if c.status == OK and parent and parent.fitness is not None and c.fitness < parent.fitness:
                out.append(Change(c.summary or f"candidate {c.id}", c.fitness - parent.fitness,
                                  c.persona or "", c.operator))
                if len(out) == k:
                    break
        return tuple(out)

    def attempts(self, parent_id: int) -> tuple[Attempt, ...]:
        """Every child of `parent_id` (as first parent), newest first: what it tried and how it ended."""
        parent = self.cands[parent_id]
        out = []
        for cid in reversed(self.kids.get(parent_id, ())):
            c = self.cands[cid]
            delta = (c.fitness - parent.fitness if c.status == OK and c.fitness is not None
                     and parent.fitness is not None else None)
            out.append(Attempt(str(c.id), c.summary, c.status, c.reason, delta, c.persona or "", c.operator))
        return tuple(out)
