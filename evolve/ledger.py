"""The campaign's state changes, each one call: the rows are written, then the in-memory view
(evolve/population.py) is updated to match, in the same transaction.

The campaign loop and the proposer decide; they change state only through a Ledger and read it through
`ledger.pop`. Nothing else calls Population's updates, so the view cannot drift from the database, and a
`kill -9` loses nothing the view knew: it is rebuilt from the rows on resume.

`batch()` makes the calls inside it one transaction: an evaluation, the verdict it leads to (the
candidate's final status, or its confirmation) and the migration it triggers are committed together or
not at all. A write that fails raises out of the campaign, whose view is then discarded with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from evolve import lineage
from evolve.kinds import EventKind
from evolve.lineage import PENDING, RUNNING, Candidate, Transaction
from evolve.population import Population
from scoring.result import OK, ScoreResult


class Ledger:
    def __init__(self, db: lineage.Database, campaign_id: int, islands: int, pareto: bool = False):
        self.db, self.cid = db, campaign_id
        self.pop = Population.from_db(db, campaign_id, islands, pareto)
        self._tx: Transaction | None = None

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

    def event(self, kind: str, payload: Mapping[str, Any]) -> int:
        with self._writing() as tx:
            return tx.event(self.cid, kind, payload)

    def next_event_no(self) -> int:
        """The number of the next proposal (its randomness derives from it)."""
        n = self.pop.next_event
        self.pop.next_event += 1
        return n

    # -- candidates -------------------------------------------------------------------------------------

    def set_queued(self, cand_id: int, status: str) -> None:
        """pending <-> running (a final status goes through `finish`). The first start fixes the candidate's
        staleness: the evaluations that finished after its parent was chosen."""
        c = self.pop.cands[cand_id]
        if c.status != status:
            stale = (self.pop.evals_done - c.chosen_after if status == RUNNING and c.staleness is None
                     and c.chosen_after is not None else None)
            with self._writing() as tx:
                tx.set_status(cand_id, status, staleness=stale)
            self.pop.set_queued(cand_id, status, stale)

    def evaluated(self, cand_id: int, result: ScoreResult) -> None:
        replaces = result.seed in self.pop.evals.get(cand_id, {})  # only an interrupted one can be re-run
        with self._writing() as tx:
            tx.evaluation(cand_id, result, replaces=replaces)
        self.pop.record_eval(cand_id, result.seed, result.status, result.best_vloss, result.log_tail, result.reason,
                             result.train_flops)

    def confirm(self, cand_id: int, payload: Mapping[str, Any]) -> None:
        """The candidate would become its island's best: it is evaluated on the confirmation seeds first."""
        self.event(EventKind.CONFIRMATION, {"candidate": cand_id, **payload})
        self.pop.confirm(cand_id)

    def finish(self, cand_id: int, status: str, reason: str) -> float | None:
        """The final status. The fitness is the mean of its ok evaluations: the one loss when there is one,
        else computed from the rows (as finish_candidate does)."""
        ok = [v for st, v in self.pop.evals.get(cand_id, {}).values() if st == OK]
        fitness = ok[0] if status == OK and len(ok) == 1 else None
        with self._writing() as tx:
            fitness, flops = tx.finish(cand_id, status, reason, fitness, children=bool(self.pop.kids.get(cand_id)))
        self.pop.finish(cand_id, status, reason, fitness, flops)
        return fitness

    def migrate(self, source: int, target: int, ids: list[int]) -> None:
        round_no = self.pop.migrations_done[source] + 1
        with self._writing() as tx:
            tx.migration(self.cid, source, target, round_no, ids)
        for cid in ids:
            self.pop.join(target, cid)
        self.pop.migrations_done[source] = round_no

    # -- LLM calls --------------------------------------------------------------------------------------

    def proposal(self, call: Mapping[str, Any], candidate: Mapping[str, Any]) -> Candidate:
        """An LLM call and the candidate it produced (queued, or rejected with its reason), as stored.
        Its generation and its parent's fitness come from the view, not from reading the parents back."""
        parents = [self.pop.cands[p] for p in (candidate["parent_id"], candidate["parent2_id"]) if p is not None]
        fields = {**candidate, "generation": 1 + max((p.generation for p in parents), default=-1),
                  "parent_fitness": parents[0].fitness if parents else None, "known_parents": True}
        with self._writing() as tx:
            cid, status, reason = tx.proposal(self.cid, call=call, candidate=fields)
        self._spent(call)
        c = Candidate(cid, fields["island"], fields["parent_id"], fields["parent2_id"], fields["operator"],
                      fields["persona"], status, reason, None, fields["summary"], model=fields.get("model"),
                      generation=fields["generation"], event_no=fields["event_no"],
                      code_hash=fields["code_hash"] if status == PENDING else None,
                      prune_reference=fields.get("prune_reference"), chosen_after=fields.get("chosen_after"))
        self.pop.add(c)
        return c

    def failed_call(self, call: Mapping[str, Any], persona: str, operator: str) -> None:
        with self._writing() as tx:
            tx.llm_call(self.cid, persona=persona, operator=operator, **call)
        self._spent(call)

    def _spent(self, call: Mapping[str, Any]) -> None:
        self.pop.cost_usd += call.get("cost_usd") or 0.0
        self.pop.llm_calls += 1
