"""The README's tour is run exactly as written: docs that drift fail the suite."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evolve import lineage
from scoring import data
from tests.helpers import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"


def block(name: str) -> str:
    text = README.read_text()
    found = re.search(rf"<!-- {name}:begin -->\s*```sh\n(.*?)```\s*<!-- {name}:end -->", text, re.S)
    assert found, f"the README lost its {name} block"
    return found.group(1)


def tour_commands() -> str:
    return block("tour")


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path):
    commands = tour_commands()
    assert commands.count("evolve ") >= 10
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           # a user's checkout reads the default cache; the suite's corpus lives in its own cache folder
           "EVOLVE_DATA_DIR": str(data.dataset().public_dir)}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert (tmp_path / "my_model" / "train_mps.py").is_file()
    assert '"earlier_campaigns"' in r.stdout and '"campaign": "tour"' in r.stdout
    # tour2 re-measures the two programs it imports outside its budget and trains children of its own
    db = lineage.open_db(lineage.sqlite_url(tmp_path / "populations" / "tour2" / "lineage.db"), create=False,
                         readonly=True)
    try:
        cid = lineage.campaign_id(db, "tour2")
        children = {c["id"] for c in lineage.export_rows(db, cid, "candidates")[1] if c["operator"] != "seed"}
        trained = [e for e in lineage.export_rows(db, cid, "evaluations")[1]
                   if e["candidate_id"] in children and e["status"] != "interrupted"]
    finally:
        db.close()
    assert trained, "tour2 trained no child of its own"


@pytest.mark.slow
def test_evolve_your_own_project_runs_as_written(tmp_path):
    """The second shipped task from its prepare.py's token files to a campaign, in a cache of its own (the
    import must create the dataset, not find it), from a folder where `seeds/` is the repository's."""
    commands = block("own")
    assert "evolve data import" in commands and "evolve task check" in commands and "--task" in commands
    (tmp_path / "seeds").symlink_to(README.parent / "seeds")
    cache = tmp_path / "cache"
    # the block starts with `evolve data prepare`: the built-in dataset is copied in, as if prepared before
    shutil.copytree(data.dataset().root, cache / "data" / data.BUILTIN)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "EVOLVE_CACHE": str(cache)}
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "imported shakespeare_words: 2,048 tokens in the vocabulary" in r.stdout
    assert "the causality probe passed" in r.stdout and "no problems found" in r.stdout
    assert "island-*/ (CANDIDATE.md, convnet.py, fit.py)" in r.stdout  # the task's files, not the built-in's
    assert 'python -c "import fit; print(fit.run())"' in (tmp_path / "my_conv" / "CANDIDATE.md").read_text()
    status = run_cli("status", "words", "--json", cwd=tmp_path, env=env)
    summary = json.loads(status.stdout)
    assert summary["status"] == "finished" and summary["evaluations"] >= 6, summary
    assert not list(cache.glob("data/.*")), "a staging folder was left in the cache"


def _clean_env(home: Path) -> dict[str, str]:
    """A shell as a newcomer's: the system PATH only (no .venv/bin), a home of its own (nothing prepared
    at the default cache), the suite's corpus cache standing in for what `make demo` prepared."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "EVOLVE_CACHE": os.environ["EVOLVE_CACHE"],
            "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def test_the_first_steps_run_as_written_in_a_clean_shell(tmp_path):
    """The Quick start's commands after `make demo`, from a folder holding the checkout's .venv, in a shell
    where `evolve` is not found until the README's own lines reach it (by its path, then activated)."""
    commands = block("first")
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "activate").is_file():
        pytest.skip(f"{sys.executable} is not in a virtual environment (`make` makes .venv)")
    (tmp_path / ".venv").symlink_to(venv)
    (tmp_path / "home").mkdir()
    (tmp_path / "populations" / "demo-20260101-120000").mkdir(parents=True)  # what `make demo` left
    env = _clean_env(tmp_path / "home")
    bare = subprocess.run(["bash", "-c", "evolve --help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bare.returncode == 127 and "evolve: command not found" in bare.stderr  # the newcomer's first error
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "launch" in r.stdout and data.BUILTIN in r.stdout and "demo-20260101-120000" in r.stdout


def test_the_hand_run_of_a_checkout_reads_a_cache_that_is_not_the_default(tmp_path, task):
    """The tour's hand run of a checked-out candidate, with the corpus only in `$EVOLVE_CACHE` (nothing at
    the default ~/.cache, no EVOLVE_DATA_DIR): it names the data folder as CANDIDATE.md does."""
    from evolve import lineage
    from evolve.kinds import Operator
    from evolve.screen import code_hash

    line = next(c for c in tour_commands().splitlines() if c.startswith("(cd my_model"))
    folder = tmp_path / "populations" / "tour"
    folder.mkdir(parents=True)
    db = lineage.open_db(lineage.sqlite_url(folder / "lineage.db"))
    cid = lineage.create_campaign(db, "tour", task_name=task.name, task_path=str(task.root), config={}, seed=0,
                                  islands=1)
    seed = lineage.add_candidate(db, cid, island=0, files=dict(task.seed_files), operator=Operator.SEED,
                                 code_hash=code_hash(dict(task.seed_files)))
    db.close()
    (tmp_path / "home").mkdir()
    env = {**_clean_env(tmp_path / "home"), "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"}
    out = subprocess.run(["evolve", "checkout", "tour", str(seed), "my_model"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    best_vloss, minutes = ast.literal_eval(r.stdout.strip().splitlines()[-1])  # what train() returned
    assert best_vloss > 0 and minutes >= 0
