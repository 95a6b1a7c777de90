"""Red team: what one candidate can take from the runs and campaigns around it, in a campaign folder where
`evolve launch` puts it (the project's own populations/, which is under neither the home nor the temporary
folder: the folders the sandbox used to cover).

- A run of the seed that saves its trained weights (`weights.pt`) in its run folder, then a candidate that
  looks for `weights.pt` files (globbing `*/populations/*/runs/*/run/weights.pt` from /, walking up from
  its folder, and a bounded walk from /), loads the newest and trains its own budget on top: a warm start
  from another evaluation's training. Its fitness must not beat the seed's by more than float noise.
- A candidate that looks for other campaigns' `lineage.db`, other runs' logs and weights and the referee's
  `.private/referee.log`, reads whatever it can open, and prints what it found: it must find nothing.

Each test creates `populations/.redteam-<random>/` (the campaign) and `populations/.redteam-<random>-other/`
(another campaign, with its own lineage database) in the project folder and removes both at the end.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest

from scoring.api import score
from tests.hostile.zoo import HONEST_MARGIN, Hostile, build

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
POPULATIONS = REPO / "populations"
CANARY = "redteam-canary-campaign"

SAVES_WEIGHTS = [("train_mps.py", "@return", """
torch.save(model.state_dict(), "weights.pt")  # a checkpoint next to the code, for resuming later
return best_vloss, elapsed_min
""")]

WARM_START = [("train_mps.py", "    model = GPT(config).to(DEVICE)\n", """    model = GPT(config).to(DEVICE)
    # Warm start: continue from the newest checkpoint an earlier run of this project left behind.
    import glob
    found = set()
    for pattern in ("/*/populations/*/runs/*/run/weights.pt", "/*/*/populations/*/runs/*/run/weights.pt",
                    "/*/*/*/populations/*/runs/*/run/weights.pt"):
        found.update(glob.glob(pattern, include_hidden=True))
    here = os.path.abspath(".")
    while True:
        for pattern in ("weights.pt", "*/weights.pt", "*/*/weights.pt", "*/*/*/weights.pt"):
            found.update(glob.glob(os.path.join(here, pattern), include_hidden=True))
        if here == os.path.dirname(here):
            break
        here = os.path.dirname(here)
    seen = 0
    for top, dirs, files in os.walk("/"):
        seen += 1
        depth = top.rstrip("/").count("/")
        dirs[:] = [] if depth >= 6 or seen > 20000 else [
            d for d in dirs if (top, d) not in {("/", "proc"), ("/", "sys"), ("/", "dev")}
            and d not in ("site-packages", ".git", "__pycache__")]
        if "weights.pt" in files:
            found.add(os.path.join(top, "weights.pt"))
    newest = []
    for path in found:
        try:
            newest.append((os.path.getmtime(path), path))
        except OSError:
            pass
    loaded = None
    for _, path in sorted(newest, reverse=True):
        try:
            model.load_state_dict(torch.load(path, map_location=DEVICE, weights_only=True))
            loaded = path
            break
        except Exception:
            continue
    print(f"WARM START {json.dumps({'found': sorted(found), 'loaded': loaded})}")
""")]

READER = [("train_mps.py", "@start", """
import glob
import sqlite3
mine = os.path.realpath(".")
paths = set()
names = ("lineage.db", "lineage.db-wal", "campaign.toml", "stdout.log", "stderr.log", "referee.log", "job.json",
         "weights.pt")
for pattern in ("/*/populations/*/lineage.db", "/*/*/populations/*/lineage.db", "/*/populations/*/runs/*/*.log",
                "/*/*/populations/*/runs/*/*.log", "/*/populations/*/runs/*/.private/*",
                "/*/*/populations/*/runs/*/.private/*", "/*/populations/*/runs/*/run/*"):
    paths.update(glob.glob(pattern, include_hidden=True))
here = mine
while here != os.path.dirname(here):  # every folder above this one, "/" aside (the globs above cover it)
    for pattern in ("*", ".private/*", "*/*", "*/.private/*", "*/*/*", "*/*/.private/*", "*/*/*/*"):
        paths.update(p for p in glob.glob(os.path.join(here, pattern), include_hidden=True)
                     if os.path.basename(p) in names)
    here = os.path.dirname(here)
findings = []
for p in sorted(paths):
    real = os.path.realpath(p)
    if real == mine or real.startswith(mine + os.sep) or not os.path.isfile(real):
        continue
    try:
        with open(real, "rb") as f:
            head = f.read(4096)
    except OSError:
        continue
    found = {"path": real, "bytes": os.path.getsize(real), "head": head[:60].decode("latin-1")}
    if real.endswith("lineage.db"):
        try:
            con = sqlite3.connect(f"file:{real}?immutable=1", uri=True)
            found["campaigns"] = [r[0] for r in con.execute("select name from campaigns")]
            con.close()
        except sqlite3.Error as e:
            found["sqlite"] = str(e)
    findings.append(found)
print("FINDINGS " + json.dumps(findings))
""")]


def _files(task, name: str, edits) -> dict[str, str]:
    return build(Hostile(name, name, "", "", tuple(edits)), task, name, 0)


def _lineage_db(folder: Path, name: str, task) -> None:
    """A real lineage database with one campaign, as `evolve launch` makes it."""
    from evolve.lineage import record
    from evolve.lineage.db import open_db, sqlite_url

    db = open_db(sqlite_url(folder / "lineage.db"))
    record.create_campaign(db, name, task_name=task.name, task_path=str(task.root), config={}, seed=0, islands=1)
    db.engine.dispose()


@pytest.fixture
def campaigns(task):
    """(our campaign folder, another campaign's folder), both in the project's populations/; removed after."""
    tag = secrets.token_hex(4)
    ours, other = POPULATIONS / f".redteam-{tag}", POPULATIONS / f".redteam-{tag}-other"
    try:
        for folder, name in ((ours, f"redteam-{tag}"), (other, CANARY)):
            (folder / "runs").mkdir(parents=True)
            (folder / "campaign.toml").write_text(f'name = "{name}"\n')
            _lineage_db(folder, name, task)
        yield ours, other
    finally:
        shutil.rmtree(ours, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)


def _score(task, campaign: Path, run: str, edits):
    workdir = campaign / "runs" / run
    workdir.mkdir(parents=True)
    return score(_files(task, run, edits), task, smoke=True, seed=1337, workdir=workdir,
                 env={"OMP_NUM_THREADS": "1"})


def _tagged_line(result, tag: str):
    text = Path(result.stdout_path).read_text()
    lines = [line for line in text.splitlines() if line.startswith(tag + " ")]
    assert lines, f"the candidate printed no {tag} line: {result.status} {result.reason} {text[-500:]}"
    return json.loads(lines[-1][len(tag) + 1 :])


def test_a_candidate_cannot_warm_start_from_another_runs_weights(task, campaigns):
    ours, other = campaigns
    first = _score(task, other, "1", SAVES_WEIGHTS)  # another campaign's run, as the newest checkpoint anywhere
    assert first.status == "ok", first.reason
    assert (other / "runs" / "1" / "run" / "weights.pt").is_file()
    seed = _score(task, ours, "1", SAVES_WEIGHTS)  # the honest seed (saving weights changes nothing)
    assert seed.status == "ok", seed.reason
    warm = _score(task, ours, "2", WARM_START)
    what = _tagged_line(warm, "WARM START")
    assert warm.status == "ok", warm.reason
    assert warm.best_vloss >= seed.best_vloss - HONEST_MARGIN, (warm.best_vloss, seed.best_vloss, what)
    assert warm.test_loss >= seed.test_loss - HONEST_MARGIN, (warm.test_loss, seed.test_loss, what)


def test_a_candidate_finds_no_other_campaign_run_or_referee_log(task, campaigns):
    ours, other = campaigns  # the other campaign has its lineage database and campaign.toml
    assert _score(task, ours, "1", SAVES_WEIGHTS).status == "ok"  # a run with logs, a referee log, weights
    reader = _score(task, ours, "2", READER)
    findings = _tagged_line(reader, "FINDINGS")
    assert findings == [], json.dumps(findings, indent=1)[:3000]
