"""The README's tour is run exactly as written: docs that drift fail the suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scoring import data

README = Path(__file__).resolve().parent.parent / "README.md"


def tour_commands() -> str:
    text = README.read_text()
    block = re.search(r"<!-- tour:begin -->\s*```sh\n(.*?)```\s*<!-- tour:end -->", text, re.S)
    assert block, "the README lost its tour block"
    return block.group(1)


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
