"""A small hand-built campaign, shaped like the first minutes of the demo: one seed over three evaluation
seeds with a wide spread, a few children by three personas (one ok pair, a crash, a rejection), a migration,
and one LLM call per child, priced or not. The crash's persona (euler) has no candidate in the lineage tree.

Its best beats the seed by 0.02, a tenth of the seed's spread (0.2): a gain below the spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evolve import lineage
from scoring.result import CRASHED, OK, ScoreResult

SEED_LOSSES = {1337: 3.0, 1338: 3.1, 1339: 2.9}
BEST_LOSS = 2.98


@dataclass(frozen=True)
class Small:
    url: str
    name: str
    campaign_id: int
    seed: int
    best: int
    ids: tuple[int, ...]  # every candidate


def build(path: Path, *, cost_usd: float = 0.0, name: str = "small") -> Small:
    """cost_usd: the price of each LLM call (0.0: the offline operator, or a model litellm cannot price)."""
    db = lineage.open_db(lineage.sqlite_url(path))
    try:
        cid = lineage.create_campaign(db, name, task_name="t", task_path="-", config={}, seed=0, islands=2)
        seed = lineage.add_candidate(db, cid, island=0, files={"model.py": "lr = 0.01\n"}, operator="seed")
        for s, loss in SEED_LOSSES.items():
            with lineage.transaction(db) as tx:
                tx.evaluation(seed, ScoreResult(OK, "", s, best_vloss=loss, returned_vloss=loss))
        lineage.finish_candidate(db, seed, OK)
        with lineage.transaction(db) as tx:
            tx.membership(cid, 1, seed, via="seed")

        def child(parent: int, island: int, persona: str, text: str, summary: str) -> int:
            c = lineage.add_candidate(db, cid, island=island, files={"model.py": text}, operator="mutate",
                                      persona=persona, model="offline", parent_id=parent, summary=summary)
            with lineage.transaction(db) as tx:
                tx.llm_call(cid, model="offline" if not cost_usd else "gpt-4o-mini", prompt_hash="p", tokens_in=2000,
                            tokens_out=800, cost_usd=cost_usd, candidate_id=c)
            return c

        a = child(seed, 0, "newton", "lr = 0.005\n", "halve the learning rate")
        with lineage.transaction(db) as tx:
            tx.evaluation(a, ScoreResult(OK, "", 1337, best_vloss=2.99, returned_vloss=2.99))
        lineage.finish_candidate(db, a, OK)
        with lineage.transaction(db) as tx:
            tx.event(cid, "migration", {"from": 0, "to": 1, "candidates": [a]})
            tx.membership(cid, 1, a)
        b = child(a, 1, "galileo", "lr = 0.004\n", "a little lower still")
        with lineage.transaction(db) as tx:
            tx.evaluation(b, ScoreResult(OK, "", 1337, best_vloss=BEST_LOSS, returned_vloss=BEST_LOSS))
        lineage.finish_candidate(db, b, OK)
        c = child(a, 0, "euler", "lr = 'x'\n", "a string learning rate")  # in no drawn lineage
        with lineage.transaction(db) as tx:
            tx.evaluation(c, ScoreResult(CRASHED, "TypeError: bad lr", 1337))
        lineage.finish_candidate(db, c, CRASHED, "TypeError: bad lr")
        d = child(seed, 1, "newton", "lr = (\n", "unbalanced parenthesis")
        lineage.finish_candidate(db, d, "rejected", "SyntaxError: '(' was never closed")
    finally:
        db.close()
    return Small(lineage.sqlite_url(path), name, cid, seed, b, (seed, a, b, c, d))
