"""The campaign's working view of its lineage: an in-memory mirror of database rows.

The database is the truth. This mirror changes by one method, `apply`, given the value of a row just
written (evolve/lineage/facts.py): evolve/ledger.py applies each one in the transaction that writes it,
and a start or resume applies the same values read back from the rows (evolve/lineage/replay.py), so the
view is the same reduction live or rebuilt, and a `kill -9` loses nothing it knew. It exists so that
choosing a parent, a persona or the next job costs the same with ten candidates or ten thousand.

Candidates are the lineage's frozen values (`lineage.Candidate`): a change replaces the value, so one
read elsewhere never changes under its reader. Evaluations are kept beside them by seed, as stored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from evolve import lineage, pareto
from evolve.islands import Individual
from evolve.kinds import Operator
from evolve.lineage import PENDING, RUNNING, Candidate
from evolve.lineage.facts import Confirming, Evaluated, Fact, Joined, Migrated, Spent
from evolve.lineage.replay import campaign_facts
from evolve.operators.context import Attempt, Change
from scoring.result import INTERRUPTED, OK, REJECTED, ScoreResult

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
    evals: dict[int, dict[int, ScoreResult]] = field(default_factory=lambda: defaultdict(dict))  # by seed
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
        """The view of a campaign's rows: the facts its ledger applied, applied again."""
        pop = cls(islands, pareto)
        for fact in campaign_facts(db, campaign_id):
            pop.apply(fact)
        return pop

    # -- the one update: a fact just written (evolve/lineage/facts.py) ---------------------------------

    def apply(self, fact: Fact) -> None:
        match fact:
            case Candidate():
                self._candidate(fact)
            case Evaluated(candidate_id=cid, result=result):
                self._evaluated(cid, result)
            case Joined(candidate_id=cid, island=island):
                if cid not in self.members[island]:
                    self._memo.clear()
                    self.members[island].append(cid)
            case Confirming(candidate_id=cid):
                self._memo.clear()
                self.confirming.add(cid)
                self._reindex(cid)
            case Migrated(source=source, round_no=round_no):
                self.migrations_done[source] = max(self.migrations_done[source], round_no)
            case Spent(cost_usd=cost):
                self.cost_usd += cost
                self.llm_calls += 1

    def _candidate(self, cand: Candidate) -> None:
        """A new candidate, or a new value of one (its status, fitness, staleness)."""
        self._memo.clear()
        old = self.cands.get(cand.id)
        if old is not None:
            self._finished[old.island] -= _finished(old)
        self.cands[cand.id] = cand
        self._finished[cand.island] += _finished(cand)
        (self.open_ids.add if cand.status in (PENDING, RUNNING) else self.open_ids.discard)(cand.id)
        self.next_event = max(self.next_event, cand.event_no + 1)
        if old is None:
            self._born(cand)
        self._reindex(cand.id)
        self._recredit(cand)
        for kid in self.kids.get(cand.id, ()):  # "better than its parent" moves with the parent's fitness
            self._recredit(self.cands[kid])

    def _born(self, cand: Candidate) -> None:
        if cand.code_hash:
            self.hashes.setdefault(cand.code_hash, cand.id)
        if cand.operator == Operator.SEED:
            self.seed_ids.append(cand.id)
        if cand.parent_id is not None:
            self.kids[cand.parent_id].append(cand.id)
            if cand.parent_id in self.cands:
                self._reindex(cand.parent_id)

    def _evaluated(self, cid: int, result: ScoreResult) -> None:
        evals = self.evals[cid]
        earlier = evals.get(result.seed)
        if result.status != INTERRUPTED and (earlier is None or earlier.status == INTERRUPTED):
            self.evals_done += 1
        evals[result.seed] = result
        if cid in self.cands:
            self._reindex(cid)

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
        loss, bar = self._first_loss(c.id), self._bar(c.parent_id)  # the parent may be provisional too
        return loss if loss is not None and bar is not None and loss < bar else None

    def _first_loss(self, cand_id: int) -> float | None:
        evals = self.evals.get(cand_id)
        first = evals[min(evals)] if evals else None
        return first.best_vloss if first is not None and first.status == OK else None

    def _bar(self, parent_id: int | None) -> float | None:
        """What a child must beat to be a provisional parent: its parent's standing less the noise."""
        parent, noise = self._ind.get(parent_id), self.noise()
        return parent.fitness - noise if parent is not None and parent.fitness is not None and noise is not None \
            else None

    def noise(self) -> float | None:
        """The best starting program's spread of losses over its evaluation seeds (None with fewer than two)."""
        seed = self.seed()
        losses = [r.best_vloss for r in self.evals.get(seed.id, {}).values() if r.status == OK] if seed else []
        return max(losses) - min(losses) if len(losses) >= 2 else None

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

    def evals_of(self, cand_id: int) -> dict[int, ScoreResult]:
        """seed -> each evaluation recorded, as stored (do not change it)."""
        return self.evals.get(cand_id, {})

    def failure_tail(self, cand_id: int) -> str:
        """The log tail of the candidate's last failed evaluation ("" without one)."""
        failed = [r for r in self.evals.get(cand_id, {}).values() if r.status not in (OK, INTERRUPTED)]
        return failed[-1].log_tail if failed else ""

    def flops(self, cand_id: int, seed: int) -> float | None:
        r = self.evals.get(cand_id, {}).get(seed)
        return r.train_flops if r is not None else None

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
        for cid in sorted(self.members[island], reverse=True):
            c = self.cands[cid]
            gain = self._gain(c)
            if gain is not None:
                out.append(Change(c.summary or f"candidate {c.id}", gain, c.persona or "", c.operator))
                if len(out) == k:
                    break
        return tuple(out)

    def _gain(self, c: Candidate) -> float | None:
        """The fitness change from `c`'s first parent when `c` is ok and lower (better); None otherwise."""
        parent = self.cands.get(c.parent_id) if c.parent_id is not None else None
        if c.status != OK or parent is None or parent.fitness is None or not c.fitness < parent.fitness:
            return None
        return c.fitness - parent.fitness

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
