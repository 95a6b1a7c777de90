"""The campaign's state changes, each one call: the rows are written (one transaction), then the in-memory
view (evolve/population.py) is updated to match.

The campaign loop and the proposer decide; they change state only through a Ledger and read it through
`ledger.pop`. Nothing else calls Population's updates, so the view cannot drift from the database, and a
`kill -9` between a write and its mirror update loses nothing: the view is rebuilt from the rows on resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evolve import lineage
from evolve.lineage import PENDING
from evolve.population import Cand, Population
from scoring.result import ScoreResult


class Ledger:
    def __init__(self, db: lineage.Database, campaign_id: int, islands: int):
        self.db, self.cid = db, campaign_id
        self.pop = Population.from_db(db, campaign_id, islands)

    def event(self, kind: str, payload: Mapping[str, Any]) -> int:
        return lineage.record_event(self.db, self.cid, kind, payload)

    def next_event_no(self) -> int:
        """The number of the next proposal (its randomness derives from it)."""
        n = self.pop.next_event
        self.pop.next_event += 1
        return n

    # -- candidates -------------------------------------------------------------------------------------

    def set_queued(self, c: Cand, status: str) -> None:
        """pending <-> running (a final status goes through `finish`)."""
        if c.status != status:
            lineage.set_candidate_status(self.db, c.id, status)
            c.status = status

    def evaluated(self, cand_id: int, result: ScoreResult) -> None:
        lineage.record_evaluation(self.db, cand_id, result)
        self.pop.record_eval(cand_id, result.seed, result.status, result.best_vloss, result.log_tail)

    def confirm(self, c: Cand, payload: Mapping[str, Any]) -> None:
        """The candidate would become its island's best: it is evaluated on the confirmation seeds first."""
        self.event("confirmation", {"candidate": c.id, **payload})
        self.pop.confirming.add(c.id)

    def finish(self, c: Cand, status: str, reason: str) -> float | None:
        """The final status; the fitness (mean of its ok evaluations) is computed from the rows."""
        fitness = lineage.finish_candidate(self.db, c.id, status, reason)
        self.pop.finish(c, status, reason, fitness)
        return fitness

    def migrate(self, source: int, target: int, ids: list[int]) -> None:
        round_no = self.pop.migrations_done[source] + 1
        lineage.record_migration(self.db, self.cid, source, target, round_no, ids)
        for cid in ids:
            self.pop.join(target, cid)
        self.pop.migrations_done[source] = round_no

    # -- LLM calls --------------------------------------------------------------------------------------

    def proposal(self, call: Mapping[str, Any], candidate: Mapping[str, Any],
                 code_hash: str | None) -> tuple[int, str, str]:
        """An LLM call and the candidate it produced (queued or rejected); (id, status, reason) as stored."""
        cid, status, reason = lineage.record_proposal(self.db, self.cid, call=call, candidate=candidate)
        self._spent(call)
        self.pop.add(Cand(cid, candidate["island"], candidate["parent_id"], candidate["parent2_id"],
                          candidate["operator"], candidate["persona"], status, reason, None, candidate["summary"]),
                     code_hash if status == PENDING else None)
        return cid, status, reason

    def failed_call(self, call: Mapping[str, Any], persona: str, operator: str) -> None:
        lineage.record_llm_call(self.db, self.cid, persona=persona, operator=operator, **call)
        self._spent(call)

    def _spent(self, call: Mapping[str, Any]) -> None:
        self.pop.cost_usd += call.get("cost_usd") or 0.0
        self.pop.llm_calls += 1
