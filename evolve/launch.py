"""Starting and resuming campaigns: folder, settings, database, seed, lease; then the loop; then the end.

Everything a user can get wrong (settings, task, personas, model, API key, data, a name in use, a
campaign someone else is running) is checked before anything is written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from evolve import config as cfgmod
from evolve import lineage
from evolve.campaign import Campaign, Outcome, Snapshot
from evolve.checkout import export_best
from evolve.config import CampaignConfig
from evolve.executors import LocalExecutor
from evolve.files import write_atomic
from evolve.kinds import CampaignStatus, EventKind, Operator
from evolve.lineage.db import DB_FILE, POPULATIONS, shown_url
from evolve.operators.llm import LLMClient
from evolve.operators.personas import load_personas
from evolve.screen import code_hash
from scoring import data, guard
from scoring.errors import InputError
from scoring.result import OK
from scoring.task import Task, builtin_task_dir, load_task

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass
class Session:
    campaign: Campaign
    db: lineage.Database
    campaign_id: int
    owner: str
    folder: Path


def llm_client(cfg: CampaignConfig) -> LLMClient:
    return LLMClient(cfg.llm, cfg.models, cfg.seed)


def _checked_parts(cfg: CampaignConfig):
    task = load_task(cfg.task or builtin_task_dir())
    if cfg.pruning.enabled and task.objective.pareto:
        raise InputError(f"pruning compares validation losses alone; task {task.name!r} has a Pareto objective "
                         "(a worse loss may still be a cheaper front point): set pruning.enabled = false")
    personas = load_personas(cfg.personas)
    data.dataset(task.dataset)  # prepared?
    llm = llm_client(cfg)
    llm.check()  # unknown model or missing API key: before the campaign starts
    if cfg.evaluation.executor == "ray":
        from evolve.ray_executor import connect

        connect(cfg.evaluation.ray_address)  # Ray missing or the cluster unreachable: before anything is written
    return task, personas, llm


def local_executor(task: Task, cfg: CampaignConfig) -> Any:
    """The executor the settings name: local slots (default), or a Ray cluster (`evaluation.executor`)."""
    ev = cfg.evaluation
    if ev.executor == "ray":
        from evolve.ray_executor import RayExecutor  # Ray is an optional extra: imported only when chosen

        return RayExecutor(task, ev.workers, ev.smoke, ev.timeout_s, ev.ray_address)
    return LocalExecutor(task, ev.workers, ev.smoke, ev.timeout_s)


ExecutorFactory = Callable[[Task, CampaignConfig], Any]


def _build(db, cid, name, cfg, task, personas, llm, folder, owner, on_update,
           executor_factory: ExecutorFactory | None) -> Session:
    executor = (executor_factory or local_executor)(task, cfg)
    campaign = Campaign(db=db, campaign_id=cid, name=name, config=cfg, task=task, personas=personas, llm=llm,
                        executor=executor, folder=folder, owner=owner, time_used_s=time_used_s(db, cid),
                        on_update=on_update)
    return Session(campaign, db, cid, owner, folder)


def prepare_launch(cfg: CampaignConfig, name: str, db_url: str | None = None,
                   on_update: Callable[[Snapshot], None] | None = None,
                   executor_factory: ExecutorFactory | None = None) -> Session:
    if not _NAME.match(name):
        raise InputError(f"campaign name {name!r}: use letters, digits, '.', '_' or '-' (at most 100)")
    folder = POPULATIONS / name
    if (folder / "campaign.toml").exists() or _holds_campaign(folder / DB_FILE, name):
        raise InputError(f"campaign {name!r} already exists in {folder}; continue it with `evolve resume {name}`")
    task, personas, llm = _checked_parts(cfg)
    starts = imported_programs(cfg, task) if cfg.start.campaign else [(dict(task.seed_files), None)]
    folder.mkdir(parents=True, exist_ok=True)
    db = lineage.open_db(db_url or lineage.sqlite_url(folder / DB_FILE))
    cid = lineage.create_campaign(db, name, task_name=task.name, task_path=str(task.root),
                                  config=cfg.model_dump(mode="json"), seed=cfg.seed, islands=cfg.islands.count)
    write_atomic(folder / "campaign.toml", cfgmod.to_toml(cfg))
    owner = lineage.new_owner()
    lineage.acquire_lease(db, cid, owner)
    ids = [lineage.add_candidate(db, cid, island=i % cfg.islands.count, files=files, operator=Operator.SEED,
                                 code_hash=code_hash(files), origin=origin)
           for i, (files, origin) in enumerate(starts)]
    with lineage.transaction(db) as tx:
        for island in range(len(ids), cfg.islands.count):  # islands left without a start share one
            tx.membership(cid, island, ids[island % len(ids)], via="seed")
        tx.event(cid, EventKind.LAUNCH, {"pid": os.getpid(), "db": db_url or "sqlite (campaign folder)"})
        tx.campaign_status(cid, CampaignStatus.RUNNING)
    return _build(db, cid, name, cfg, task, personas, llm, folder, owner, on_update, executor_factory)


def _holds_campaign(path: Path, name: str) -> bool:
    """Whether a campaign folder's database already holds the campaign. A launch killed after creating the
    database but before recording its campaign leaves an empty lineage database: launching again reuses it
    (resume could not: there is nothing to resume). A file that is not a lineage database counts as taken."""
    if not path.exists():
        return False
    try:
        db = lineage.open_db(lineage.sqlite_url(path), create=False, readonly=True)
    except InputError:
        return True
    try:
        lineage.campaign_id(db, name)
        return True
    except InputError:
        return False
    finally:
        db.close()


def imported_programs(cfg: CampaignConfig, task: Task) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """The `start.top` best confirmed programs of another campaign, checked against this task's frozen
    protocol, each with a reference back to where it came from."""
    start = cfg.start
    url, cname = lineage.campaign_location(start.campaign, start.db)
    if url.startswith("sqlite:///"):
        url = lineage.sqlite_url(Path(url.removeprefix("sqlite:///")).resolve())
    src = lineage.open_db(url, create=False, readonly=True)
    try:
        scid = lineage.campaign_id(src, cname, sole_fallback=start.db is None)
        confirm = lineage.campaign(src, scid).config.get("evaluation", {}).get("confirm_seeds", 0)
        need = 2 if confirm else 1  # confirmed: scored on more than one seed, where the campaign confirmed
        chosen = []
        for row in lineage.top(src, scid, 10 * start.top + 10):
            evals = lineage.candidate(src, scid, row.id).evaluations
            if sum(e.result.status == OK for e in evals) >= need:
                chosen.append(row)
            if len(chosen) == start.top:
                break
        if not chosen:
            raise InputError(f"campaign {cname!r} has no confirmed candidate to start from")
        shown = shown_url(url)
        programs = []
        for row in chosen:
            files = {**task.seed_files, **lineage.candidate_files(src, row.id)}
            problems = guard.check(task, files)
            if problems:
                raise InputError(f"candidate {row.id} of {cname!r} does not fit task {task.name!r}: {problems[0]}")
            programs.append((files, {"db": shown, "campaign": cname, "candidate": row.id, "fitness": row.fitness}))
        return programs
    finally:
        src.close()


def effective_config(db: lineage.Database, cid: int) -> CampaignConfig:
    """The launch settings with each resume's budget changes applied in order (all from rows)."""
    info = lineage.campaign(db, cid)
    settings: dict[str, Any] = dict(info.config)
    _, events = lineage.export_rows(db, cid, "events")
    for e in events:
        if e["kind"] == "resume" and e["payload"].get("budget"):
            settings["budget"] = {**settings.get("budget", {}), **e["payload"]["budget"]}
    return cfgmod.validate(settings, f"settings stored with campaign {info.name!r}")


def time_used_s(db: lineage.Database, cid: int) -> float:
    """Controller time of earlier sessions, from rows: each session runs from its launch/resume event to
    the last row it wrote (evaluation finished, candidate created, event)."""
    _, events = lineage.export_rows(db, cid, "events")
    starts = sorted(e["created_at"] for e in events if e["kind"] in ("launch", "resume"))
    if not starts:
        return 0.0
    stamps = _row_times(db, cid, events)
    total = 0.0  # added in order, not sum(): Python 3.12's compensated sum() would change the last digits
    for start, end in zip(starts, [*starts[1:], None], strict=True):
        total += _session_s(start, end, stamps)
    return total


def _row_times(db: lineage.Database, cid: int, events: list[dict[str, Any]]) -> list[datetime]:
    """When each of the campaign's rows was written: its events, finished evaluations and candidates."""
    stamps: list[datetime] = [e["created_at"] for e in events]
    _, evals = lineage.export_rows(db, cid, "evaluations")
    stamps += [e["finished_at"] for e in evals if e["finished_at"]]
    _, cands = lineage.export_rows(db, cid, "candidates")
    return stamps + [c["created_at"] for c in cands]


def _session_s(start: datetime, end: datetime | None, stamps: list[datetime]) -> float:
    """A session's seconds: from its start to the last row written before the next session started."""
    inside = [t for t in stamps if t >= start and (end is None or t < end)]
    return (max(inside) - start).total_seconds() if inside else 0.0


def _dead_here(lease: lineage.LeaseInfo) -> bool:
    """The lease's controller ran on this host and its process is gone. (A reused pid keeps the lease
    until it expires: safe, only slower.)"""
    if lease.host != socket.gethostname():
        return False  # another machine: only the lease's expiry can tell
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def prepare_resume(name: str, db_url: str | None = None, budget: dict[str, Any] | None = None,
                   on_update: Callable[[Snapshot], None] | None = None,
                   executor_factory: ExecutorFactory | None = None) -> Session:
    url, cname = lineage.campaign_location(name, db_url)
    db = lineage.open_db(url, create=False)
    cid = lineage.campaign_id(db, cname)
    cfg = effective_config(db, cid)
    budget = {k: v for k, v in (budget or {}).items() if v is not None}
    if budget:
        cfg = cfgmod.validate({**cfg.model_dump(mode="json"), "budget": {**cfg.budget.model_dump(), **budget}},
                              "resume options")
    task, personas, llm = _checked_parts(cfg)
    folder = Path(url.split("///", 1)[1]).parent if url.startswith("sqlite") else POPULATIONS / cname
    folder.mkdir(parents=True, exist_ok=True)
    owner = _take_over(db, cid, budget)
    if budget:
        write_atomic(folder / "campaign.toml", cfgmod.to_toml(cfg))
    return _build(db, cid, cname, cfg, task, personas, llm, folder, owner, on_update, executor_factory)


def _take_over(db: lineage.Database, cid: int, budget: dict[str, Any]) -> str:
    """The campaign's lease for a new controller (LeaseHeld, an InputError, while another one is alive; the
    lease of one killed on this machine is released first), and the resume recorded: the new owner."""
    stale = lineage.current_lease(db, cid)
    if stale is not None and _dead_here(stale):
        lineage.release_lease(db, cid, stale.owner)
    owner = lineage.new_owner()
    lineage.acquire_lease(db, cid, owner)
    with lineage.transaction(db) as tx:
        if stale is not None:
            tx.event(cid, EventKind.INTERRUPTION, {
                "reason": "the previous controller stopped without releasing the campaign (killed?)",
                "pid": stale.pid, "host": stale.host})
        tx.event(cid, EventKind.RESUME, {"pid": os.getpid(), "budget": budget})
        tx.campaign_status(cid, CampaignStatus.RUNNING)
    return owner


def run_session(session: Session) -> Outcome:
    """Run the loop, then record how it ended and give the campaign up."""
    db, cid = session.db, session.campaign_id
    try:
        outcome = session.campaign.run()
    except BaseException as e:
        session.campaign.executor.stop_now.set()
        with lineage.transaction(db) as tx:
            tx.event(cid, EventKind.INTERRUPTION, {"reason": f"controller error: {type(e).__name__}: {e}"})
            tx.campaign_status(cid, CampaignStatus.STOPPED)
        lineage.release_lease(db, cid, session.owner)
        raise
    finally:
        session.campaign.executor.shutdown()
    with lineage.transaction(db) as tx:
        if outcome.status == CampaignStatus.STOPPED:
            tx.event(cid, EventKind.INTERRUPTION, {"reason": outcome.reason, "cause": outcome.cause.value,
                                                   "evals": outcome.evals_done})
        else:
            tx.event(cid, EventKind.FINISHED, {"status": outcome.status, "cause": outcome.cause.value,
                                               "reason": outcome.reason, "evals": outcome.evals_done,
                                               "best": outcome.best_id})
    best = export_best(db, cid, session.folder, session.campaign.cfg.islands.count)
    with lineage.transaction(db) as tx:
        tx.campaign_status(cid, outcome.status)
    lineage.release_lease(db, cid, session.owner)
    return dataclasses.replace(outcome, best_dir=str(best) if best else None)
