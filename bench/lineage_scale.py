"""Lineage database at scale: a synthetic campaign of 100,000 candidates on SQLite.

5 islands, 5 personas, depth up to ~1,000; the rows are bench/fill.py's (parents from the last 30 ok
candidates of an island, 5% crossovers, an evaluation and an LLM call per candidate). Every candidate has a
distinct model.py the size of the seed's (train_mps.py is shared, so content addressing stores it once).

Prints the database size, insert rates (through the library API for a sample; bulk for the rest) and
the median latency of `top 10`, ancestry of the deepest candidate, descendants of a seed's child,
`persona_stats` and `island_stats`.

    python bench/lineage_scale.py [--n 100000] [--out bench/out/lineage_scale.db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fill import SCREENED, insert_bulk, plan  # noqa: E402
from evolve import lineage as L  # noqa: E402
from scoring.result import ScoreResult  # noqa: E402

SEED = ROOT / "seeds" / "tasks" / "nanogpt_shakespeare"
PERSONAS = ("newton", "curie", "darwin", "lovelace", "turing")
ISLANDS = 5
API_SAMPLE = 2_000


def median_ms(fn: Callable[[], object], repeat: int = 15) -> float:
    fn()  # warm the page cache and the statement cache once
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


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
            with L.transaction(db) as tx:
                tx.llm_call(camp, model="offline", prompt_hash="p", tokens_in=3000, tokens_out=1500, cost_usd=0.001,
                            latency_s=2.0, reply=files_for(r["id"], model, train)["model.py"], candidate_id=cid,
                            persona=r["persona"], operator=r["operator"])
        loss = r["fitness"] if r["status"] == "ok" else None
        if r["status"] not in SCREENED:
            with L.transaction(db) as tx:
                tx.evaluation(cid, ScoreResult(status=r["status"], reason="", seed=0, best_vloss=loss, steps=500,
                                               elapsed_s=60.0, log_tail="step 500 loss 1.9\n" * 20))
        L.finish_candidate(db, cid, r["status"], fitness=loss)
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
    rows = plan(args.n, random.Random(0), ISLANDS, PERSONAS)
    db = L.open_db(L.sqlite_url(args.out))
    camp = L.create_campaign(
        db, "scale", task_name="nanogpt_shakespeare", task_path=str(SEED), config={}, seed=0, islands=ISLANDS
    )
    sample = min(API_SAMPLE, len(rows))
    api_s = insert_api(db, camp, rows[:sample], model, train)
    bulk_s = insert_bulk(db, camp, rows[sample:], lambda i: files_for(i, model, train))
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
