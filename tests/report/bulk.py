"""A large synthetic campaign written in bulk (seconds for 10,000 candidates), for the report's scale check.

    python -m tests.report.bulk [--n 10000]     # builds one in a temp folder and times `write_report`

Shaped like a long steady-state run: 4 islands sharing one seed, each child's parent drawn from the last
30 ok candidates of its island, 5% crossovers, failures by status with reasons, one evaluation and one
LLM call per child, a migration every 50 candidates, timestamps one second apart.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from evolve import lineage
from evolve.lineage.models import Blob, Candidate, CandidateFile, Evaluation, Event, LlmCall, Membership, utcnow

ISLANDS, WINDOW = 4, 30
PERSONAS = ("newton", "galileo", "euler", "archimedes", "von_neumann")
FAILURES = {"crashed": "RuntimeError: CUDA out of memory", "timeout": "killed at the 600 s limit",
            "rejected": "syntax error in model.py line 12"}
STATUSES = ["ok"] * 75 + ["crashed"] * 12 + ["timeout"] * 5 + ["rejected"] * 8


def build(path: Path, n: int, seed: int = 0) -> tuple[str, int]:
    """Write an n-candidate campaign named 'bulk' to a new SQLite file: (url, campaign id)."""
    rng = random.Random(seed)
    url = lineage.sqlite_url(path)
    db = lineage.open_db(url)
    cid = lineage.create_campaign(db, "bulk", task_name="synthetic", task_path="-", config={}, seed=0,
                                  islands=ISLANDS)
    base = "import torch\n\nclass Model(torch.nn.Module):\n    pass\n"
    start = utcnow()
    seed_id = lineage.add_candidate(db, cid, island=0, files={"model.py": base}, operator="seed", code_hash="0")
    for s in (1337, 1338, 1339):
        with lineage.transaction(db) as tx:
            tx.evaluation(seed_id, lineage_result(s, 2.5 + 0.01 * (s - 1338)))
    lineage.finish_candidate(db, seed_id, "ok")
    for i in range(1, ISLANDS):
        with lineage.transaction(db) as tx:
            tx.membership(cid, i, seed_id, via="seed")
    fitness = {seed_id: 2.5}
    generation = {seed_id: 0}
    recent = [[seed_id] for _ in range(ISLANDS)]
    blobs, cands, links, evals, calls, members, events = [], [], [], [], [], [], []
    for k in range(1, n):
        i = seed_id + k
        island = k % ISLANDS
        p = rng.choice(recent[island])
        p2 = rng.choice(recent[island]) if rng.random() < 0.05 else None
        p2 = p2 if p2 != p else None
        status = rng.choice(STATUSES)
        fit = max(1.0, fitness[p] + rng.gauss(-0.002, 0.02)) if status == "ok" else None
        t = start + timedelta(seconds=k)
        text = f"{base}# variant {i}\nDROPOUT = {rng.random():.4f}\n"
        sha = hashlib.sha256(text.encode()).hexdigest()
        generation[i] = 1 + max(generation[p], generation[p2] if p2 else 0)
        blobs.append({"sha256": sha, "size": len(text), "content": text})
        cands.append({
            "id": i, "campaign_id": cid, "island": island, "parent_id": p, "parent2_id": p2,
            "operator": "crossover" if p2 else "mutate", "persona": rng.choice(PERSONAS), "model": "offline",
            "generation": generation[i], "status": status, "reason": FAILURES.get(status, ""), "fitness": fit,
            "parent_fitness": fitness[p], "code_hash": f"{i:064x}", "event_no": i, "created_at": t, "finished_at": t,
        })
        links.append({"candidate_id": i, "name": "model.py", "sha256": sha})
        if status != "rejected":
            evals.append({"candidate_id": i, "seed": 1337, "status": status, "reason": FAILURES.get(status, ""),
                          "best_vloss": fit, "vloss_history": [], "log_tail": "", "notes": [], "created_at": t,
                          "finished_at": t})
        calls.append({"campaign_id": cid, "candidate_id": i, "persona": cands[-1]["persona"], "operator": "mutate",
                      "model": "offline", "prompt_hash": "p", "tokens_in": 3000, "tokens_out": 1200,
                      "cost_usd": 0.001, "created_at": t})
        members.append({"campaign_id": cid, "island": island, "candidate_id": i, "via": "birth", "joined_at": t})
        if status == "ok":
            fitness[i] = fit
            recent[island] = [*recent[island], i][-WINDOW:]
        if k % 50 == 0:
            events.append({"campaign_id": cid, "kind": "migration", "created_at": t,
                           "payload": {"from": island, "to": (island + 1) % ISLANDS, "candidates": [p]}})
    with db.session() as s, s.begin():
        s.execute(sa.insert(Blob).prefix_with("OR IGNORE"), blobs)
        s.execute(sa.insert(Candidate), cands)
        s.execute(sa.insert(CandidateFile), links)
        s.execute(sa.insert(Evaluation), evals)
        s.execute(sa.insert(LlmCall), calls)
        s.execute(sa.insert(Membership), members)
        s.execute(sa.insert(Event), events)
    db.close()
    return url, cid


def lineage_result(seed: int, loss: float):
    from scoring.result import OK, ScoreResult

    return ScoreResult(OK, "", seed, best_vloss=loss, returned_vloss=loss)


def main() -> None:
    from evolve.report import write_report

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        url, cid = build(Path(tmp) / "bulk.db", args.n)
        built = time.perf_counter() - t
        db = lineage.open_db(url, create=False, readonly=True)
        t = time.perf_counter()
        files = write_report(db, cid, Path(tmp) / "report.html")
        took = time.perf_counter() - t
        size = files.html.stat().st_size / 1e6
        print(f"{args.n:,} candidates built in {built:.1f} s; report in {took:.2f} s "
              f"({files.nodes} of {files.ancestors:,} lineage nodes drawn, HTML {size:.2f} MB)")
        db.close()


if __name__ == "__main__":
    main()
