"""The README's tour is run exactly as written: docs that drift fail the suite."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
