"""The hostile-candidate zoo: one table of candidates, how to build each from the seed, and how to run them.

Each file in `candidates/` is one hostile candidate: a docstring (what it does), `EXPECT` (status),
`REASON` (a fragment the reason must contain), `EDITS` (file, anchor, code) applied to the seed task,
and optionally `TIMEOUT`, `MEM_LIMIT_MB`, `NEEDS_NAMESPACES`, and `HONEST = True` for a cheat that may
score `ok` only because it gained nothing: its fitness must be no better than the unchanged seed's
(`honest_seed`, the same seed and budget, so deterministic). Anchors: "@start" inserts the code at the
top of train(), "@return" replaces its return statement, anything else is replaced literally.
Placeholders: @MARKER@ (a string unique to the run, for finding leftover processes), @PORT@ (a TCP
listener on 127.0.0.1 on the controller's side).

`run_zoo_in_controller()` scores every candidate for real, as a campaign would: in a controller process
started with an OPENAI_API_KEY in its environment (as a user's shell starts `evolve`), with the run
folders in a campaign folder next to a real lineage database into which every result is recorded. The
controller must exit cleanly: a candidate that kills or hangs it fails the zoo. The test (test_zoo.py)
and bench/reliability.py (RELIABILITY.md) both read `ZOO` and this function, so they cannot drift apart.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scoring import confine
from scoring.api import LOG_CAP_BYTES, score
from scoring.result import ScoreResult
from scoring.task import Task

TASK_DIR = Path(__file__).resolve().parents[2] / "seeds" / "tasks" / "nanogpt_shakespeare"
SECRET = "sk-zoo-secret-7f3a91c2-never-in-a-row"
START_ANCHOR = "    t0 = time.time()\n"
RETURN_ANCHOR = "    return best_vloss, elapsed_min\n"
DEFAULT_TIMEOUT = 180.0  # generous: a loaded CI box can take 30 s for a smoke run
HONEST_MARGIN = 0.01  # a cheat that is ok must not beat the unchanged seed by more than float noise


@dataclass(frozen=True)
class Hostile:
    name: str
    what: str
    expect: str
    reason: str
    edits: tuple[tuple[str, str, str], ...]
    timeout: float = DEFAULT_TIMEOUT
    mem_limit_mb: int | None = None
    needs_namespaces: bool = False
    honest: bool = False


def _load() -> list[Hostile]:
    from tests.hostile import candidates

    zoo = []
    for info in sorted(pkgutil.iter_modules(candidates.__path__), key=lambda i: i.name):
        m = importlib.import_module(f"{candidates.__name__}.{info.name}")
        zoo.append(Hostile(info.name, (m.__doc__ or "").strip().splitlines()[0], m.EXPECT, m.REASON,
                           tuple(m.EDITS), float(getattr(m, "TIMEOUT", DEFAULT_TIMEOUT)),
                           getattr(m, "MEM_LIMIT_MB", None), getattr(m, "NEEDS_NAMESPACES", False),
                           getattr(m, "HONEST", False)))
    return zoo


ZOO: list[Hostile] = _load()


def build(h: Hostile, task: Task, marker: str, port: int) -> dict[str, str]:
    """The candidate's files: the seed with its edits (an anchor that is gone fails loudly)."""
    files = dict(task.seed_files)
    for name, anchor, code in h.edits:
        code = code.replace("@MARKER@", marker).replace("@PORT@", str(port))
        text = files[name]
        if anchor == "@start":
            old, new = START_ANCHOR, START_ANCHOR + textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", "    ")
        elif anchor == "@return":
            old, new = RETURN_ANCHOR, textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", "    ")
        else:
            old, new = anchor, code
        if old not in text:
            raise AssertionError(f"{h.name}: anchor {old!r} not found in {name}")
        files[name] = text.replace(old, new, 1)
    return files


@dataclass
class Observation:
    hostile: Hostile
    result: ScoreResult | None = None
    skipped: str = ""
    leftovers: list[int] = field(default_factory=list)
    secret_in_logs: bool = False
    log_bytes: tuple[int, int] = (0, 0)
    escaped_files: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        r = self.result
        return r is not None and r.status == self.hostile.expect and self.hostile.reason in r.reason


def processes_mentioning(*needles: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains any needle."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(n.encode() in cmdline for n in needles):
            found.append(int(pid))
    return found


def _run_one(h: Hostile, task: Task, campaign: Path, port: int) -> Observation:
    if h.needs_namespaces and not confine.namespace_prefix():
        return Observation(h, skipped="needs Linux namespaces without root, not available on this host")
    marker = f"evolve-zoo-{os.getpid()}-{h.name}"
    workdir = campaign / "runs" / h.name
    workdir.mkdir(parents=True)
    files = build(h, task, marker, port)
    kwargs = {} if h.mem_limit_mb is None else {"mem_limit_mb": h.mem_limit_mb}
    r = score(files, task, smoke=True, workdir=workdir, timeout=h.timeout, env={"OMP_NUM_THREADS": "1"}, **kwargs)
    time.sleep(0.3)  # let the kernel finish tearing down a namespace before looking
    # the run folder with its separator: another candidate's folder may begin with this one's name
    obs = Observation(h, r, leftovers=processes_mentioning(marker, str(workdir) + os.sep))
    logs = [Path(p) for p in (r.stdout_path, r.stderr_path) if p]
    obs.log_bytes = tuple(p.stat().st_size if p.exists() else 0 for p in logs) or (0, 0)
    obs.secret_in_logs = any(SECRET.encode() in p.read_bytes() for p in logs if p.exists())
    obs.escaped_files = [str(p) for p in campaign.rglob(f"escaped-{marker}*")]
    return obs


def run_zoo(task: Task, campaign: Path, workers: int = 2, only: list[str] | None = None) -> list[Observation]:
    """Score every candidate (two at a time), record every result in the campaign's lineage database,
    and return what was observed. Runs in the controller process (see `main`)."""
    from evolve.lineage import record, transaction
    from evolve.lineage.db import open_db, sqlite_url

    campaign.mkdir(parents=True, exist_ok=True)
    db = open_db(sqlite_url(campaign / "lineage.db"))
    cid = record.create_campaign(db, "zoo", task_name=task.name, task_path=str(task.root), config={}, seed=0,
                                 islands=1)
    chosen = [h for h in ZOO if only is None or h.name in only]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            observations = list(pool.map(lambda h: _run_one(h, task, campaign, port), chosen))
    for obs in observations:
        if obs.result is not None:
            files = build(obs.hostile, task, "m", 0)
            cand = record.add_candidate(db, cid, island=0, files=files, operator="mutate",
                                        persona=obs.hostile.name, summary=obs.hostile.what)
            with transaction(db) as tx:
                tx.evaluation(cand, obs.result)
    db.engine.dispose()
    return observations


def run_zoo_in_controller(campaign: Path, only: list[str] | None = None, timeout: float = 1500) -> list[Observation]:
    """`run_zoo` in a fresh controller process that holds the key from its start; its observations."""
    repo = Path(__file__).resolve().parents[2]
    out = campaign.parent / f"{campaign.name}-observations.json"
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    proc = subprocess.run([sys.executable, "-m", "tests.hostile.zoo", str(campaign), str(out), *(only or [])],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"the zoo's controller died ({proc.returncode}): {proc.stderr[-2000:]}")
    by_name = {h.name: h for h in ZOO}
    observations = []
    for d in json.loads(out.read_text()):
        r = d["result"]
        if r is not None:
            r = ScoreResult(**{**r, "vloss_history": tuple(r["vloss_history"]), "notes": tuple(r["notes"])})
        observations.append(Observation(by_name[d["name"]], r, d["skipped"], d["leftovers"],
                                        d["secret_in_logs"], tuple(d["log_bytes"]), d["escaped_files"]))
    return observations


def main(argv: list[str]) -> None:
    from scoring.task import load_task

    assert os.environ.get("OPENAI_API_KEY") == SECRET, "the controller must hold the key from its start"
    campaign, out, only = Path(argv[0]), Path(argv[1]), argv[2:] or None
    observations = run_zoo(load_task(TASK_DIR), campaign, only=only)
    rows = [{**{k: v for k, v in asdict(o).items() if k != "hostile"}, "name": o.hostile.name,
             "result": None if o.result is None else o.result.to_dict()} for o in observations]
    out.write_text(json.dumps(rows))


def cap_bytes() -> int:
    """The most a capped log file may hold: the cap plus the one-line note that says what was dropped."""
    return LOG_CAP_BYTES + 200


if __name__ == "__main__":
    main(sys.argv[1:])
