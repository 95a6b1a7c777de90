"""Every read against the hand-built lineage (see conftest.build), with exact answers, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from evolve import lineage as L
from evolve.lineage.queries import scored
from scoring.errors import InputError
from tests.lineage.conftest import TRAIN_PY, Built, model_py


def names(built: Built, ids: list[int]) -> list[str]:
    by_id = {v: k for k, v in built.ids.items()}
    return [by_id[i] for i in ids]


def test_top_orders_ok_candidates_by_fitness(built: Built) -> None:
    rows = L.top(built.db, built.campaign, 10)
    assert names(built, [r.id for r in rows]) == ["e", "d", "a", "s0", "s1", "b"]
    assert [r.fitness for r in rows] == pytest.approx([1.60, 1.70, 1.80, 2.00, 2.10, 2.20])
    e = rows[0]
    assert (e.island, e.persona, e.operator, e.generation) == (1, "darwin", "crossover", 2)
    assert (e.parent_id, e.parent2_id) == (built.ids["a"], built.ids["b"])
    assert names(built, [r.id for r in L.top(built.db, built.campaign, 2)]) == ["e", "d"]


def test_scored_is_every_ok_candidate_lowest_fitness_first(built: Built) -> None:
    """What `top --pareto` reduces: all of them, not the first k; the front itself is taken above lineage."""
    rows = scored(built.db, built.campaign)
    assert names(built, [r.id for r in rows]) == ["e", "d", "a", "s0", "s1", "b"]
    assert [r.id for r in rows] == [r.id for r in L.top(built.db, built.campaign, 100)]


def test_ancestry_goes_through_both_parents_nearest_first(built: Built) -> None:
    f = L.ancestry(built.db, built.campaign, built.ids["f"])
    assert [(names(built, [r.id])[0], r.depth) for r in f] == sorted(
        [("f", 0), ("e", 1), ("a", 2), ("b", 2), ("s0", 3), ("s1", 3)], key=lambda t: (t[1], built.ids[t[0]])
    )
    d = L.ancestry(built.db, built.campaign, built.ids["d"])
    assert [(names(built, [r.id])[0], r.depth) for r in d] == [("d", 0), ("c", 1), ("a", 2), ("s0", 3)]
    assert [r.id for r in L.ancestry(built.db, built.campaign, built.ids["s1"])] == [built.ids["s1"]]


def test_descendants_follow_first_and_second_parent(built: Built) -> None:
    b = L.descendants(built.db, built.campaign, built.ids["b"])
    assert {names(built, [r.id])[0]: r.depth for r in b} == {"b": 0, "e": 1, "g": 1, "f": 2}
    s0 = L.descendants(built.db, built.campaign, built.ids["s0"])
    assert {names(built, [r.id])[0]: r.depth for r in s0} == {"s0": 0, "a": 1, "c": 2, "e": 2, "h": 2, "d": 3, "f": 3}


def test_persona_stats_credit_each_persona_and_operator(built: Built) -> None:
    tables = L.persona_stats(built.db, built.campaign)
    assert [c.name for c in tables.persona] == ["curie", "darwin", "newton"]
    stats = tables.to_dict()  # the rows `evolve personas --json` prints
    p = {r["persona"]: r for r in stats["persona"]}
    assert set(p) == {"newton", "curie", "darwin"}  # seeds (no persona) are not children of anyone's prompt
    # newton: a (+0.20), c crashed, g rejected; plus one failed call with no candidate.
    assert p["newton"] == {
        "persona": "newton",
        "children": 3,
        "valid": 1,
        "share_valid": pytest.approx(1 / 3),
        "improving": 1,
        "share_improving": pytest.approx(1 / 3),
        "best_improvement": pytest.approx(0.20),
        "mean_improvement": pytest.approx(0.20),
        "llm_calls": 4,
        "cost_usd": pytest.approx(0.035),
    }
    # curie: b (-0.10), d (parent crashed: not comparable), f timeout.
    assert p["curie"] == {
        "persona": "curie",
        "children": 3,
        "valid": 2,
        "share_valid": pytest.approx(2 / 3),
        "improving": 0,
        "share_improving": 0.0,
        "best_improvement": pytest.approx(-0.10),
        "mean_improvement": pytest.approx(-0.10),
        "llm_calls": 3,
        "cost_usd": pytest.approx(0.06),
    }
    # darwin: e (mean of two seeds 1.60, +0.20 on its first parent a); h still running is not counted yet.
    assert p["darwin"] == {
        "persona": "darwin",
        "children": 1,
        "valid": 1,
        "share_valid": 1.0,
        "improving": 1,
        "share_improving": 1.0,
        "best_improvement": pytest.approx(0.20),
        "mean_improvement": pytest.approx(0.20),
        "llm_calls": 2,
        "cost_usd": pytest.approx(0.06),
    }
    o = {r["operator"]: r for r in stats["operator"]}
    assert [r["operator"] for r in stats["operator"]] == ["crossover", "mutate", "repair"]
    assert (o["mutate"]["children"], o["mutate"]["valid"], o["mutate"]["improving"]) == (5, 2, 1)
    assert o["mutate"]["best_improvement"] == pytest.approx(0.20)
    assert o["mutate"]["mean_improvement"] == pytest.approx(0.05)
    assert (o["mutate"]["llm_calls"], o["mutate"]["cost_usd"]) == (7, pytest.approx(0.105))
    assert o["repair"] == {
        "operator": "repair",
        "children": 1,
        "valid": 1,
        "share_valid": 1.0,
        "improving": 0,
        "share_improving": 0.0,
        "best_improvement": None,
        "mean_improvement": None,
        "llm_calls": 1,
        "cost_usd": pytest.approx(0.02),
    }
    assert (o["crossover"]["children"], o["crossover"]["improving"]) == (1, 1)


def test_island_stats_count_migrants_as_members(built: Built) -> None:
    assert [r.to_dict() for r in L.island_stats(built.db, built.campaign)] == [
        {
            "island": 0,
            "members": 4,
            "seeds": 1,
            "born": 3,
            "migrants_in": 0,
            "candidates": 4,
            "ok": 3,
            "best_candidate": built.ids["d"],
            "best_fitness": pytest.approx(1.70),
        },
        {
            "island": 1,
            "members": 7,
            "seeds": 1,
            "born": 5,
            "migrants_in": 1,
            "candidates": 6,
            "ok": 3,
            "best_candidate": built.ids["e"],
            "best_fitness": pytest.approx(1.60),
        },
    ]


def test_members_of_an_island_in_arrival_order(built: Built) -> None:
    m = L.members(built.db, built.campaign, 1)
    assert names(built, [x.candidate_id for x in m]) == ["s1", "b", "a", "e", "f", "g", "h"]
    assert [x.via for x in m] == ["seed", "birth", "migration", "birth", "birth", "birth", "birth"]
    # The migrant is the same candidate, not a copy: one row in candidates, two memberships.
    assert L.find_by_hash(built.db, built.campaign, "hash-a") == built.ids["a"]
    assert [x.island for x in L.candidate(built.db, built.campaign, built.ids["a"]).memberships] == [0, 1]
    with L.transaction(built.db) as tx:
        assert tx.membership(built.campaign, 1, built.ids["a"]) is None  # already there: no change


def test_status_summary_counts_from_rows(built: Built) -> None:
    summary = L.status_summary(built.db, built.campaign)
    assert summary.best is not None and summary.best.id == built.ids["e"]
    s = summary.to_dict()  # what `evolve status --json` prints
    assert s["candidates"] == 10
    assert s["by_status"] == {"crashed": 1, "ok": 6, "rejected": 1, "running": 1, "timeout": 1}
    assert s["evaluations"] == 10
    assert s["evaluations_by_status"] == {"crashed": 1, "interrupted": 1, "ok": 7, "timeout": 1}
    assert s["best"] == {
        "id": built.ids["e"],
        "fitness": pytest.approx(1.60),
        "island": 1,
        "persona": "darwin",
        "operator": "crossover",
    }
    assert (s["llm_calls"], s["llm_errors"], s["tokens_in"]) == (9, 1, 8000)
    assert s["cost_usd"] == pytest.approx(0.155)
    assert s["events"] == {"launch": 1, "migration": 1}
    assert (s["campaign"], s["islands"], s["seed"]) == ("demo", 2, 7)


def test_evaluated_pairs_exclude_interrupted(built: Built) -> None:
    i = built.ids
    assert L.evaluated_pairs(built.db, built.campaign) == {
        (i["s0"], 0),
        (i["s1"], 0),
        (i["a"], 0),
        (i["b"], 0),
        (i["c"], 0),
        (i["d"], 0),
        (i["e"], 0),
        (i["e"], 1),
        (i["f"], 0),
    }


def test_candidate_detail_and_content_addressed_files(built: Built) -> None:
    e = L.candidate(built.db, built.campaign, built.ids["e"])
    assert e.files == {"model.py": model_py("e"), "train_mps.py": TRAIN_PY}
    assert [(x.result.seed, x.result.best_vloss) for x in e.evaluations] == [(0, 1.55), (1, 1.65)]
    assert e.candidate.fitness == pytest.approx(1.60)
    assert (e.llm_calls, e.llm_cost_usd) == (1, pytest.approx(0.03))
    c = L.candidate(built.db, built.campaign, built.ids["c"])
    assert c.evaluations[0].result.log_tail.endswith("RuntimeError: shapes do not match")
    assert c.candidate.reason == "RuntimeError: shapes do not match"
    # One train_mps.py shared by all ten candidates is stored once.
    with built.db.session() as s:
        from sqlalchemy import func, select

        from evolve.lineage.models import Blob, CandidateFile

        assert s.scalar(select(func.count()).select_from(CandidateFile)) == 20
        assert s.scalar(select(func.count()).select_from(Blob)) == 11


def test_diff_against_first_parent(built: Built) -> None:
    d = L.diff(built.db, built.campaign, built.ids["e"])
    assert d["parent_id"] == built.ids["a"]
    model, train = d["files"]
    assert (model["name"], model["status"], train["status"], train["diff"]) == ("model.py", "changed", "unchanged", "")
    a, e = built.ids["a"], built.ids["e"]
    assert model["diff"] == (
        f"--- {a}/model.py\n+++ {e}/model.py\n@@ -1,3 +1,3 @@\n-# candidate a\n-n_layer = 6\n"
        "+# candidate e\n+n_layer = 3\n n_embd = 64\n"
    )
    assert L.diff(built.db, built.campaign, built.ids["s0"]) == {
        "candidate": built.ids["s0"],
        "parent_id": None,
        "files": [],
    }


def test_unknown_candidate_or_campaign_is_an_input_error(built: Built) -> None:
    with pytest.raises(InputError, match="no candidate 9999"):
        L.candidate(built.db, built.campaign, 9999)
    with pytest.raises(InputError, match="no campaign 'nope'"):
        L.campaign_id(built.db, "nope")
    assert L.campaign_id(built.db, "nope", sole_fallback=True) == built.campaign


def test_export_rows_of_each_table(built: Built) -> None:
    cols, rows = L.export_rows(built.db, built.campaign, "candidates")
    assert cols[:3] == ["id", "campaign_id", "island"] and len(rows) == 10
    assert [r["status"] for r in rows].count("ok") == 6
    assert len(L.export_rows(built.db, built.campaign, "evaluations")[1]) == 10
    assert len(L.export_rows(built.db, built.campaign, "llm_calls")[1]) == 9
    assert [r["kind"] for r in L.export_rows(built.db, built.campaign, "events")[1]] == ["launch", "migration"]
    memberships = L.export_rows(built.db, built.campaign, "memberships")[1]
    assert [m["event_id"] for m in memberships if m["via"] == "migration"] == [built.migration_event]
