"""bench/fill.py: a launched campaign filled with synthetic candidates in bulk resumes as if it had run
them: the loop sees them (budget, parents, personas), and they are programs the task accepts."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from evolve import config as cfgmod
from evolve.launch import prepare_launch, prepare_resume, run_session
from evolve.lineage import candidate_files
from evolve.population import Population
from scoring.guard import check

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.fill import FixedExecutor, fill_campaign  # noqa: E402


def test_a_filled_campaign_resumes_on_top_of_its_synthetic_candidates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    task_dir = REPO / "seeds" / "tasks" / "nanogpt_shakespeare"
    cfg = cfgmod.validate({"task": str(task_dir), "models": [{"name": "offline"}],
                           "islands": {"count": 2}, "budget": {"max_evals": 1},
                           "evaluation": {"smoke": True, "confirm_seeds": 0}})
    session = prepare_launch(cfg, "filled", executor_factory=lambda t, c: FixedExecutor(0.0))
    run_session(session)
    stored = fill_campaign(session, 200)
    pop = Population.from_db(session.db, session.campaign_id, 2)
    assert len(pop.cands) == 201 and pop.evals_done == stored and 100 < stored < 200  # some were screened
    assert all(pop.members[i] for i in (0, 1))
    # the migration rounds the campaign would have made are on record, so the resume does not replay them
    assert all(pop.migrations_done[i] == pop.finished_on(i) // cfg.migration.interval > 0 for i in (0, 1))
    personas = {c.persona for c in pop.cands.values() if c.persona}
    assert personas and personas <= set(session.campaign.proposer.personas)
    some = [c.id for c in pop.cands.values() if c.operator != "seed"][:5]
    task = session.campaign.task
    files = [candidate_files(session.db, i) for i in some]
    assert all(check(task, f) == [] for f in files) and len({f[task.entry_file] for f in files}) == 5

    run_session(prepare_resume("filled", budget={"max_evals": stored + 4},
                               executor_factory=lambda t, c: FixedExecutor(0.0)))
    con = sqlite3.connect(tmp_path / "populations" / "filled" / "lineage.db")
    new = con.execute("select parent_id, event_no from candidates where id > 201 order by id").fetchall()
    con.close()
    assert new and all(parent is not None for parent, _ in new)
    assert min(event for _, event in new) > 200  # event numbers go on after the synthetic ones
    assert any(parent > 1 for parent, _ in new)  # children of synthetic candidates, not only of the seed
