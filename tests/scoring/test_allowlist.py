"""The candidate sees its own run and nothing else: `confine.lock_down` builds an allowlist, not a blocklist.

Each test starts a real child in fresh namespaces, as the runner is started (`namespace_prefix()` and
`python -I`), or scores a real candidate through `scoring.api.score`. Every path a test says is invisible
exists on the host while the child runs, and every write it says fails would succeed without the allowlist.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scoring import confine
from scoring.api import score

REPO = Path(__file__).resolve().parents[2]
# Files of the project a candidate has no business reading: only `scoring` and the virtualenv are let in.
PROJECT_FILES = [REPO / "README.md", REPO / "evolve" / "__init__.py", REPO / "tests" / "helpers.py",
                 REPO / "pyproject.toml"]

PROBE = r"""
import json, os, subprocess, sys
from scoring import confine
writable, readable, reads, writes = json.loads(sys.argv[1])
failures = confine.lock_down(writable, readable)

def can_read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False

def can_write(folder):
    path = os.path.join(folder, "probe-%d" % os.getpid())
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return False
    os.unlink(path)
    return True

import numpy, torch  # what a candidate needs still works
assert float(torch.ones(3).sum()) == 3.0
child = subprocess.run([sys.executable, "-I", "-c", "import scoring, torch"], capture_output=True, text=True)
print(json.dumps({"failures": failures, "read": {p: can_read(p) for p in reads},
                  "write": {p: can_write(p) for p in writes}, "root": sorted(os.listdir("/")),
                  "child": child.returncode, "child_err": child.stderr[-500:]}))
"""


@pytest.fixture(autouse=True)
def namespaces():
    if not confine.namespace_prefix():
        msg = "needs Linux user namespaces without root (unshare), not available on this host"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {msg}")
        pytest.skip(msg)


@pytest.fixture
def campaign(tmp_path):
    """A campaign as evolve lays it out: this run (r1) next to another (r2) that left its weights, and the
    lineage database; this run's `.private/` holds the referee's log."""
    root = tmp_path / "populations" / "c"
    me, other = root / "runs" / "r1", root / "runs" / "r2"
    for d in (me / "run", me / ".private", me / "data", other / "run"):
        d.mkdir(parents=True)
    (me / "data" / "val.bin").write_bytes(b"decoy")
    (me / ".private" / "referee.log").write_text("the referee's log")
    (me / "stdout.log").write_text("this run's log")
    (other / "run" / "weights.pt").write_bytes(b"another run's weights")
    (root / "lineage.db").write_bytes(b"sqlite")
    return me


@pytest.fixture
def outside():
    """A file in each folder outside home and the temporary folder a user may keep a corpus in (only where
    this host lets the test create one): /var/tmp, /opt, /srv, and a folder right under /."""
    made = []
    for base in ("/var/tmp", "/opt", "/srv", "/"):
        folder = Path(base) / f"evolve-test-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            folder.mkdir()
            (folder / "corpus.txt").write_text("a user's corpus")
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        made.append(folder)
    yield [str(f / "corpus.txt") for f in made]
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def run_locked(writable: list[Path], readable: list[Path], reads: list, writes: list) -> dict:
    """lock_down(writable, readable + the interpreter) in a child started as the runner is; what it saw."""
    args = [[str(p) for p in writable], [*map(str, readable), *confine.python_paths()], list(map(str, reads)),
            list(map(str, writes))]
    proc = subprocess.run([*confine.namespace_prefix(), sys.executable, "-I", "-c", PROBE, json.dumps(args)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen["failures"] == [] and seen["child"] == 0, seen
    return seen


def test_the_run_sees_its_own_folders_and_nothing_else(campaign, outside):
    other = campaign.parent / "r2"
    invisible = [other / "run" / "weights.pt", campaign / ".private" / "referee.log", campaign / "stdout.log",
                 campaign.parent.parent / "lineage.db", *PROJECT_FILES, *outside]
    assert all(Path(p).is_file() for p in invisible)
    decoy = campaign / "data"
    seen = run_locked([campaign / "run"], [decoy], [*invisible, decoy / "val.bin", confine.__file__],
                      [campaign / "run", decoy, campaign, "/dev/shm", "/tmp", "/var/tmp", "/"])
    assert [p for p in map(str, invisible) if seen["read"][p]] == []
    assert seen["read"][str(decoy / "val.bin")] and seen["read"][confine.__file__]
    assert seen["write"] == {str(campaign / "run"): True, str(decoy): False, str(campaign): False,
                             "/dev/shm": True, "/tmp": False, "/var/tmp": False, "/": False}
    allowed = [*confine.SYSTEM, "/dev", *confine.python_paths(), str(campaign)]
    assert set(seen["root"]) <= {Path(p).parts[1] for p in allowed}  # no /home, /srv, /opt, /var, /run...


def test_with_nothing_writable_nothing_is_written(campaign):
    run = campaign / "run"
    seen = run_locked([], [run], [], [run, "/dev/shm", "/tmp", "/"])
    assert seen["write"] == {str(run): False, "/dev/shm": False, "/tmp": False, "/": False}


def test_python_paths_hold_the_scoring_package_not_the_project_folder():
    paths = confine.python_paths()
    assert str(REPO / "scoring") in paths
    assert not any(p == str(REPO) or str(REPO).startswith(p + "/") for p in paths)


def test_a_scored_candidate_cannot_see_other_runs_or_its_referee(task, campaign, outside):
    """Through the real runner: the seed, probing first, still scores ok."""
    other = campaign.parent / "r2" / "run" / "weights.pt"
    probed = [str(other), str(campaign / ".private" / "referee.log"), *map(str, PROJECT_FILES), *outside]
    probe = (f"    _seen = {{p: os.path.exists(p) for p in {probed!r}}}\n"
             "    _seen['..'] = sorted(os.listdir('..'))\n"
             "    with open('probe.json', 'w') as _f:\n"
             "        json.dump(_seen, _f)\n")
    anchor = "    t0 = time.time()\n"
    text = task.seed_files["train_mps.py"]
    assert anchor in text
    r = score({"train_mps.py": text.replace(anchor, anchor + probe, 1)}, task, smoke=True, workdir=campaign)
    assert r.status == "ok", r.reason
    seen = json.loads((campaign / "run" / "probe.json").read_text())
    assert seen.pop("..") == ["data", "run"]  # neither .private/ nor the logs
    assert [p for p, there in seen.items() if there] == []
    assert "file system read-only outside the run folder" in r.notes and "dataset hidden from the candidate" in r.notes
