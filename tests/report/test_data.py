"""What the report gathers from a real campaign's database matches the lineage library's own answers."""

from __future__ import annotations

import pytest

from evolve import lineage
from evolve.report import gather


@pytest.fixture
def data(db):
    d, cid = db
    return gather(d, cid)


def test_best_curves_are_running_minima_ending_at_the_best(db, data):
    d, cid = db
    ys = [y for _, y in data.overall.steps]
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == len(ys)
    assert ys[-1] == pytest.approx(lineage.top(d, cid, 1)[0].fitness)
    xs = [x for x, _ in data.overall.steps]
    assert xs == sorted(xs) and 0 < xs[-1] <= data.evaluations
    islands = {r.island: r.best_fitness for r in lineage.island_stats(d, cid)}
    assert {c.island: c.steps[-1][1] for c in data.per_island} == pytest.approx(islands)
    # migrants count for their new island: some island's best was bred elsewhere
    births = {r["id"]: r["island"] for r in lineage.export_rows(d, cid, "candidates")[1]}
    best_ids = {r.island: r.best_candidate for r in lineage.island_stats(d, cid)}
    assert any(births[c] != i for i, c in best_ids.items())


def test_the_seed_level_and_noise_band_come_from_its_confirmation_seeds(db, data):
    d, cid = db
    (seed,) = data.seeds
    evals = lineage.candidate(d, cid, seed.candidate).evaluations
    losses = [e.result.best_vloss for e in evals]
    assert len(losses) == 3  # first seed + 2 confirmation seeds
    assert (seed.low, seed.high) == (min(losses), max(losses)) and seed.low < seed.high
    assert seed.level == pytest.approx(sum(losses) / 3)
    assert seed.islands == (0, 1, 2)


def test_failures_are_counted_by_status_with_their_reasons(db, data):
    d, cid = db
    by_status = lineage.status_summary(d, cid).by_status
    assert {f["status"]: f["count"] for f in data.failures} == {
        s: n for s, n in by_status.items() if s not in ("ok", "pending", "running")
    }
    crashed = next(f for f in data.failures if f["status"] == "crashed")
    for e in crashed["examples"]:
        assert e["reason"].startswith("RuntimeError: shape mismatch")
        assert lineage.candidate(d, cid, e["candidate"]).candidate.reason == e["reason"]
    assert {"crashed", "timeout", "rejected"} <= {f["status"] for f in data.failures}


def test_the_tree_is_the_best_lineage_and_its_diffs_are_lineage_diffs(db, data):
    d, cid = db
    best = lineage.top(d, cid, 1)[0].id
    nodes = {n.id: n for n in data.tree.nodes}
    assert best in nodes and data.tree.best[0] == best
    assert {r.id for r in lineage.ancestry(d, cid, best)} <= set(nodes)
    _, cands = lineage.export_rows(d, cid, "candidates")
    assert any(c["parent2_id"] for c in cands if c["status"] == "ok"), "the fixture should breed crossovers"
    for n in nodes.values():  # nothing is cut at this size: a crossover shows both parents
        assert not n.hidden_parents
        if n.parent2_id is not None:
            assert (n.parent2_id, n.id, False) in data.tree.edges and (n.parent_id, n.id, True) in data.tree.edges
    for n in nodes.values():
        expected = lineage.diff(d, cid, n.id)
        assert data.diffs[n.id] == {"parent": expected["parent_id"], "files": expected["files"]}
        if n.parent_id is not None and n.fitness is not None:
            parent = lineage.candidate(d, cid, n.parent_id).candidate.fitness
            assert n.delta == pytest.approx(n.fitness - parent)


def test_migrations_and_llm_usage_follow_the_events_and_calls(db, data):
    d, cid = db
    _, events = lineage.export_rows(d, cid, "events")
    migrations = [e for e in events if e["kind"] == "migration"]
    assert len(data.migrations) == len(migrations) > 0
    assert [(m.source, m.target, list(m.candidates)) for m in data.migrations] == [
        (e["payload"]["from"], e["payload"]["to"], e["payload"]["candidates"]) for e in migrations
    ]
    assert [m.evaluation for m in data.migrations] == sorted(m.evaluation for m in data.migrations)
    summary = lineage.status_summary(d, cid)
    last = data.llm[-1]
    assert len(data.llm) == summary.llm_calls
    assert (last.tokens_in, last.tokens_out) == (summary.tokens_in, summary.tokens_out)
    assert last.cost_usd == pytest.approx(summary.cost_usd)


def test_persona_leaderboard_is_the_credit_table(db, data):
    d, cid = db
    assert data.personas == lineage.persona_stats(d, cid).to_dict()["persona"]


def test_a_campaign_where_nothing_succeeded_still_reports(tmp_path):
    from evolve.report import write_report
    from scoring.result import CRASHED, ScoreResult
    from tests.report.pngs import png_size

    db = lineage.open_db(lineage.sqlite_url(tmp_path / "l.db"))
    try:
        cid = lineage.create_campaign(db, "dead", task_name="t", task_path="-", config={}, seed=0, islands=2)
        seed = lineage.add_candidate(db, cid, island=0, files={"model.py": "x = 1\n"}, operator="seed")
        with lineage.transaction(db) as tx:
            tx.evaluation(seed, ScoreResult(CRASHED, "ImportError: no module named torch", 1337))
        lineage.finish_candidate(db, seed, CRASHED, "ImportError: no module named torch")
        files = write_report(db, cid, tmp_path / "r.html")
    finally:
        db.close()
    html = files.html.read_text()
    assert "no lineage to draw" in html and "ImportError: no module named torch" in html
    assert files.nodes == 0 and all(png_size(p.read_bytes())[0] > 0 for p in files.pngs)


def test_the_cost_plane_holds_every_measured_ok_candidate_and_its_front(db, data):
    d, cid = db
    ok = {c.id: c for c in lineage.top(d, cid, 10_000)}
    assert {p.id for p in data.costs} == set(ok) and all(p.train_flops == ok[p.id].train_flops for p in data.costs)
    front = {p.id for p in data.costs if p.front}
    for p in data.costs:  # a front member is dominated by no one; everyone else by someone
        dominated = any(q.fitness <= p.fitness and q.train_flops <= p.train_flops
                        and (q.fitness, q.train_flops) != (p.fitness, p.train_flops) for q in data.costs)
        assert dominated == (p.id not in front)
    best, cheapest = data.cost_highlights()
    assert best.fitness == min(p.fitness for p in data.costs)
    seed_loss = min(p.fitness for p in data.costs if p.seed)
    assert cheapest.fitness <= seed_loss
    assert cheapest.train_flops == min(p.train_flops for p in data.costs if p.fitness <= seed_loss)


def test_the_report_and_top_pareto_mark_the_same_front_with_a_cost_left_unmeasured(tmp_path):
    """One rule for the loss-against-compute front (pareto.loss_and_cost): a candidate whose training cost
    was not measured is on `evolve top --pareto`'s front only where nothing has a lower loss, cannot be
    plotted, and changes no measured candidate's place on the report's front."""
    import json

    from scoring.result import OK, ScoreResult
    from tests.helpers import run_cli

    url = lineage.sqlite_url(tmp_path / "l.db")
    db = lineage.open_db(url)
    try:
        cid = lineage.create_campaign(db, "costs", task_name="t", task_path="-", config={}, seed=0, islands=1)
        ids = {}
        for name, loss, flops in [("seed", 2.5, 4e9), ("cheap", 2.4, 1e9), ("dear", 2.2, 8e9),
                                  ("unmeasured", 2.1, None), ("worse", 2.45, 2e9)]:
            ids[name] = lineage.add_candidate(db, cid, island=0, files={"model.py": f"# {name}\n"},
                                              operator="seed" if name == "seed" else "mutate")
            with lineage.transaction(db) as tx:
                tx.evaluation(ids[name], ScoreResult(OK, "", 1337, best_vloss=loss, train_flops=flops))
            lineage.finish_candidate(db, ids[name], OK)
        data = gather(db, cid)
    finally:
        db.close()
    top = json.loads(run_cli("top", "costs", "--pareto", "--json", "--db", url, cwd=tmp_path).stdout)
    cli_front = {row["id"] for row in top}
    assert cli_front == {ids["cheap"], ids["dear"], ids["unmeasured"]}
    assert {p.id for p in data.costs if p.front} == cli_front - {ids["unmeasured"]}
    assert ids["unmeasured"] not in {p.id for p in data.costs}
