"""Lineage database at scale: a synthetic campaign of 100,000 candidates on SQLite.

5 islands, 5 personas, depth up to ~1,000 (each candidate's parent is drawn from the last 30 ok candidates
of its island, as fitness-based selection in a steady-state loop would; 5% are crossovers with a second
parent from the same window). Every candidate has a distinct model.py the size of the seed's (train_mps.py
is shared, so content addressing stores it once), one evaluation with a log tail, and, unless it is a
seed, one LLM call whose reply holds the new file, as a real campaign's rows would.

Prints the database size, insert rates (through the library API for a sample; bulk for the rest) and
the median latency of `top 10`, ancestry of the deepest candidate, descendants of a seed's child,
`persona_stats` and `island_stats`.

    python bench/lineage_scale.py [--n 100000] [--out bench/out/lineage_scale.db]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from evolve import lineage as L
from evolve.lineage.models import Blob, Candidate, CandidateFile, Evaluation, LlmCall, Membership, utcnow
from scoring.result import ScoreResult

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "tasks" / "nanogpt_shakespeare"
PERSONAS = ("newton", "curie", "darwin", "lovelace", "turing")
ISLANDS = 5
WINDOW = 30
API_SAMPLE = 2_000
BATCH = 5_000
SCREENED = ("rejected", "constraint_violation")  # refused before training: no evaluation row
STATUSES = ["ok"] * 70 + ["crashed"] * 12 + ["rejected"] * 8 + ["timeout"] * 5 + ["constraint_violation"] * 5


def median_ms(fn: Callable[[], object], repeat: int = 15) -> float:
    fn()  # warm the page cache and the statement cache once
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def plan(n: int, rng: random.Random) -> list[dict]:
    """Parents, generation, persona, operator, status and fitness of every candidate (ids 1..n)."""
    recent: list[list[int]] = [[] for _ in range(ISLANDS)]
    rows: list[dict] = []
    for i in range(1, n + 1):
        island = (i - 1) % ISLANDS
        pool = recent[island]
        if not pool:
            row = {
                "id": i,
                "island": island,
                "parent_id": None,
                "parent2_id": None,
                "operator": "seed",
                "persona": None,
                "generation": 0,
                "status": "ok",
                "fitness": 2.5,
            }
        else:
            p = rng.choice(pool)
            p2 = rng.choice(pool) if rng.random() < 0.05 else None
            status = rng.choice(STATUSES)
            parent = rows[p - 1]
            base = parent["fitness"] if parent["fitness"] is not None else 2.5
            row = {
                "id": i,
                "island": island,
                "parent_id": p,
                "parent2_id": p2 if p2 != p else None,
                "operator": "crossover" if p2 and p2 != p else rng.choice(["mutate"] * 9 + ["repair"]),
                "persona": rng.choice(PERSONAS),
                "generation": 1 + max(rows[p - 1]["generation"], rows[p2 - 1]["generation"] if p2 else 0),
                "status": status,
                "fitness": max(1.0, base + rng.gauss(-0.002, 0.02)) if status == "ok" else None,
            }
        # What finish_candidate keeps on each child: its first parent's fitness (None unless the parent is ok).
        row["parent_fitness"] = rows[row["parent_id"] - 1]["fitness"] if row["parent_id"] else None
        rows.append(row)
        if row["status"] == "ok":
            pool.append(i)
            del pool[:-WINDOW]
    return rows


def files_for(i: int, model: str, train: str) -> dict[str, str]:
    return {"model.py": f"{model}\n# variant {i}: dropout = {i % 97 / 1000}\n", "train_mps.py": train}


def insert_api(db: L.Database, camp: int, rows: list[dict], model: str, train: str) -> float:
    """The first rows through the library API, as the campaign loop will write them: seconds taken."""
    t = time.perf_counter()
    for r in rows:
        cid = L.add_candidate(
            db,
            camp,
            island=r["island"],
            files=files_for(r["id"], model, train),
            operator=r["operator"],
            persona=r["persona"],
            model="offline",
            parent_id=r["parent_id"],
            parent2_id=r["parent2_id"],
            generation=r["generation"],
            code_hash=f"{r['id']:064x}",
        )
        assert cid == r["id"]
        if r["persona"]:
            L.record_llm_call(
                db,
                camp,
                model="offline",
                prompt_hash="p",
                tokens_in=3000,
                tokens_out=1500,
                cost_usd=0.001,
                latency_s=2.0,
                reply=files_for(r["id"], model, train)["model.py"],
                candidate_id=cid,
                persona=r["persona"],
                operator=r["operator"],
            )
        loss = r["fitness"] if r["status"] == "ok" else None
        if r["status"] not in SCREENED:
            L.record_evaluation(
                db,
                cid,
                ScoreResult(
                    status=r["status"],
                    reason="",
                    seed=0,
                    best_vloss=loss,
                    steps=500,
                    elapsed_s=60.0,
                    log_tail="step 500 loss 1.9\n" * 20,
                ),
            )
        L.finish_candidate(db, cid, r["status"], fitness=loss)
    return time.perf_counter() - t


def insert_bulk(db: L.Database, camp: int, rows: list[dict], model: str, train: str) -> float:
    """The rest in batches of executemany: the same rows, without a transaction per write."""
    train_sha = hashlib.sha256(train.encode()).hexdigest()
    now = utcnow()
    t = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        blobs, cands, links, evals, calls, members = [], [], [], [], [], []
        for r in chunk:
            text = files_for(r["id"], model, train)["model.py"]
            sha = hashlib.sha256(text.encode()).hexdigest()
            blobs.append({"sha256": sha, "size": len(text), "content": text})
            cands.append(
                {
                    **r,
                    "campaign_id": camp,
                    "model": "offline",
                    "reason": "",
                    "code_hash": f"{r['id']:064x}",
                    "event_no": r["id"] - 1,
                    "created_at": now,
                    "finished_at": now,
                }
            )
            links += [
                {"candidate_id": r["id"], "name": "model.py", "sha256": sha},
                {"candidate_id": r["id"], "name": "train_mps.py", "sha256": train_sha},
            ]
            if r["status"] not in SCREENED:
                evals.append(
                    {
                        "candidate_id": r["id"],
                        "seed": 0,
                        "status": r["status"],
                        "reason": "",
                        "best_vloss": r["fitness"],
                        "vloss_history": [],
                        "steps": 500,
                        "elapsed_s": 60.0,
                        "log_tail": "step 500 loss 1.9\n" * 20,
                        "notes": [],
                        "created_at": now,
                        "finished_at": now,
                    }
                )
            if r["persona"]:
                calls.append(
                    {
                        "campaign_id": camp,
                        "candidate_id": r["id"],
                        "persona": r["persona"],
                        "operator": r["operator"],
                        "model": "offline",
                        "prompt_hash": "p",
                        "tokens_in": 3000,
                        "tokens_out": 1500,
                        "cost_usd": 0.001,
                        "latency_s": 2.0,
                        "reply": text,
                        "created_at": now,
                    }
                )
            members.append(
                {
                    "campaign_id": camp,
                    "island": r["island"],
                    "candidate_id": r["id"],
                    "via": "seed" if r["operator"] == "seed" else "birth",
                    "joined_at": now,
                }
            )
        with db.session() as s, s.begin():
            s.execute(sa.insert(Blob), blobs)
            s.execute(sa.insert(Candidate), cands)
            s.execute(sa.insert(CandidateFile), links)
            s.execute(sa.insert(Evaluation), evals)
            s.execute(sa.insert(LlmCall), calls)
            s.execute(sa.insert(Membership), members)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "lineage_scale.db")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.out}{suffix}").unlink(missing_ok=True)
    model, train = (SEED / "model.py").read_text(), (SEED / "train_mps.py").read_text()
    rows = plan(args.n, random.Random(0))
    db = L.open_db(L.sqlite_url(args.out))
    camp = L.create_campaign(
        db, "scale", task_name="nanogpt_shakespeare", task_path=str(SEED), config={}, seed=0, islands=ISLANDS
    )
    sample = min(API_SAMPLE, len(rows))
    api_s = insert_api(db, camp, rows[:sample], model, train)
    bulk_s = insert_bulk(db, camp, rows[sample:], model, train)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("ANALYZE")  # what a long campaign's periodic maintenance would leave behind
    deepest = max(rows, key=lambda r: (r["generation"], -r["id"]))
    child_of_seed = next(r["id"] for r in rows if r["parent_id"] == 1)
    size_mb = args.out.stat().st_size / 1e6
    anc = L.ancestry(db, camp, deepest["id"])
    figures = [
        ("candidates", f"{args.n:,}"),
        ("max depth (generation)", f"{deepest['generation']:,} (candidate {deepest['id']}, {len(anc):,} ancestors)"),
        ("database size", f"{size_mb:,.1f} MB ({1e6 * size_mb / args.n / 1024:.1f} KiB per candidate)"),
        ("insert via API (candidate+files+call+eval+finish)", f"{sample / api_s:,.0f} candidates/s ({sample:,})"),
        ("insert bulk (executemany, 5k per transaction)", f"{(len(rows) - sample) / bulk_s:,.0f} candidates/s"),
        ("top 10", f"{median_ms(lambda: L.top(db, camp, 10)):.2f} ms"),
        ("ancestry of the deepest", f"{median_ms(lambda: L.ancestry(db, camp, deepest['id'])):.2f} ms"),
        (
            "descendants of a seed's child",
            f"{median_ms(lambda: L.descendants(db, camp, child_of_seed), 5):.2f} ms "
            f"({len(L.descendants(db, camp, child_of_seed)):,} rows)",
        ),
        ("persona_stats", f"{median_ms(lambda: L.persona_stats(db, camp)):.2f} ms"),
        ("island_stats", f"{median_ms(lambda: L.island_stats(db, camp)):.2f} ms"),
        ("status_summary", f"{median_ms(lambda: L.status_summary(db, camp)):.2f} ms"),
    ]
    db.close()
    width = max(len(k) for k, _ in figures)
    print(f"lineage_scale: SQLite {args.out}")
    for k, v in figures:
        print(f"  {k:<{width}}  {v}")


if __name__ == "__main__":
    main()
