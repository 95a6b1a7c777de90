"""`evolve launch` and `evolve resume`: run a campaign with a live view, then say what it found."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from evolve import config as cfgmod
from evolve.campaign import Outcome, Snapshot, Stop
from evolve.cli import app
from evolve.cli.render import err, out, print_json
from evolve.kinds import CampaignStatus
from evolve.launch import Session, prepare_launch, prepare_resume, run_session
from evolve.report.wording import seed_gain
from evolve.summary import summarize


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render(s: Snapshot) -> Group:
    """The live view: progress, best overall and per island, each slot, the queue, cost, ETA."""
    stopping = f"   stopping: {s.stopping}" if s.stopping else ""
    lines = [_headline(s), _best_line(s), _slots(s), Text(f"queued {s.queued}   proposing {s.proposing}{stopping}")]
    lines += [Text(line, style="dim") for line in s.log[-5:]]
    return Group(*lines)


def _headline(s: Snapshot) -> Text:
    return Text.assemble(
        (f"{s.name}  ", "bold"), f"evaluations {s.evals_done}/{s.max_evals}"
        + (f" (+{s.imported_evals} of the imported programs)" if s.imported_evals else "") + "   ",
        f"elapsed {_duration(s.elapsed_s)}   ETA {_duration(s.eta_s)}   LLM calls {s.llm_calls}/{s.max_llm_calls}"
        f"   cost ${s.cost_usd:.4f}",
    )


def _best_line(s: Snapshot) -> Text:
    """The best so far, against the seed, and each island's best."""
    best = "-" if s.best is None else f"#{s.best[0]} {s.best[1]:.4f}"
    gain = ""
    if s.best and s.seed_fitness is not None:
        gain = f" ({s.best[1] - s.seed_fitness:+.4f} vs seed {s.seed_fitness:.4f})"
    return Text(f"best val loss {best}{gain}   islands: " + "  ".join(
        f"{i}:{_loss(b)}" for i, b in enumerate(s.island_best)))


def _slots(s: Snapshot) -> Table:
    """One row per evaluation slot: idle, or the candidate and seed it trains and for how long."""
    slots = Table(show_header=True, box=None, padding=(0, 2))
    for col in ("slot", "candidate", "seed", "persona", "running for"):
        slots.add_column(col)
    now = time.monotonic()
    for i, slot in enumerate(s.slots):
        if slot is None:
            slots.add_row(str(i), "idle", "", "", "")
        else:
            slots.add_row(str(i), f"#{slot.candidate_id}", str(slot.seed), slot.persona or "seed",
                          _duration(now - slot.started))
    return slots


def _run(session: Session, as_json: bool) -> Outcome:
    """Run with Ctrl-C and SIGTERM handling (what `docker compose stop`, systemd and Kubernetes send): the
    first stops gracefully, the second stops now."""
    campaign = session.campaign

    def on_signal(sig, _frame):
        how = "Ctrl-C" if sig == signal.SIGINT else signal.Signals(sig).name
        campaign.request_stop("stopped by the user" if sig == signal.SIGINT else f"stopped by {how}")
        err.print("stopping: " + (f"running evaluations finish first ({how} again to stop now)"
                                  if not campaign.stopping_now() else "killing running evaluations"))

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if as_json or not sys.stdout.isatty():
            last = [0.0]

            def plain(s: Snapshot) -> None:
                if time.monotonic() - last[0] >= 10 and not as_json:
                    last[0] = time.monotonic()
                    best = "-" if s.best is None else f"#{s.best[0]} {s.best[1]:.4f}"
                    err.print(f"[{_duration(s.elapsed_s)}] evaluations {s.evals_done}/{s.max_evals}, best {best}, "
                              f"queued {s.queued}, LLM calls {s.llm_calls}/{s.max_llm_calls}, "
                              f"cost ${s.cost_usd:.4f}" + (f", stopping: {s.stopping}" if s.stopping else ""))

            campaign.on_update = plain
            return run_session(session)
        with Live(render(campaign.snapshot()), console=out, refresh_per_second=4, transient=False) as live:
            campaign.on_update = lambda s: live.update(render(s))
            return run_session(session)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def print_summary(s: dict[str, Any]) -> None:
    imported = s.get("imported_evaluations")
    outside = f" ({imported} of them measuring the imported programs, outside the budget)" if imported else ""
    out.print(Text.assemble("\n", (s["campaign"], "bold"), f": {s['status']} after {s['evaluations']} evaluations"
                            f"{outside} and {s['llm_calls']} LLM calls ({s['reason']})"))
    for line in (_best_found(s), _seed_level(s), _improvement(s), _lineage(s), _left_undone(s), _best_dir(s)):
        if line is not None:
            out.print(line)
    out.print("look further:\n  " + "\n  ".join(s["next"]))


def _best_found(s: dict[str, Any]) -> str | None:
    if "best" not in s:
        return None
    b = s["best"]
    return (f"best candidate #{b['id']} ({b['persona'] or 'seed'}, {b['operator']}): val loss "
            f"{_loss(b['val_loss'])} over {b['seeds']} seed(s), test loss {_loss(b['test_loss'])}")


def _seed_level(s: dict[str, Any]) -> str | None:
    if "seed" not in s:
        return None
    seed = s["seed"]
    spread = f" (spread {seed['spread']:.4f} over {len(seed['val_losses'])} seeds)" if seed["spread"] else ""
    return f"seed #{seed['id']}: val loss {_loss(seed['val_loss'])}{spread}, test loss {_loss(seed['test_loss'])}"


def _improvement(s: dict[str, Any]) -> str | None:
    if "improvement" not in s:
        return None
    imp = s["improvement"]
    test = f"{imp['test_loss']:+.4f}" if imp["test_loss"] is not None else "-"
    return f"improvement over the seed: val {seed_gain(imp['val_loss'], s['seed'].get('spread'))}, test {test}"


def _lineage(s: dict[str, Any]) -> str | None:
    if not s.get("lineage"):
        return None
    steps = [f"#{r['id']} {r['operator']}" + (f"/{r['persona']}" if r["persona"] else "")
             + (f" x #{r['parent2']}" if r["parent2"] else "") + f" {_loss(r['fitness'])}"
             for r in s["lineage"]]
    return "lineage: " + "  ->  ".join(steps)


def _left_undone(s: dict[str, Any]) -> str | None:
    if not s.get("left_undone"):
        return None
    how = f": `{s['finish_with']}` trains them" if s.get("finish_with") else ""
    return f"left undone when it ended: {s['left_undone']}{how}"


def _best_dir(s: dict[str, Any]) -> str | None:
    if not s.get("best_dir"):
        return None
    files = sorted({p.name for p in Path(s["best_dir"]).glob("island-*/*")})
    return f"each island's best program: {s['best_dir']}/island-*/ ({', '.join(files)})"


def _finish(session: Session, outcome: Outcome, as_json: bool) -> None:
    s = summarize(session.db, session.campaign_id, session.campaign.name, session.folder, outcome)
    print_json(s) if as_json else print_summary(s)
    raise typer.Exit(1 if outcome.status == CampaignStatus.FAILED or outcome.cause is Stop.NO_PROGRESS else 0)


def _set(d: dict, path: str, value: Any) -> None:
    if value is None:
        return
    *parents, key = path.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[key] = value


@app.command("launch")
def launch(
    config: Path = typer.Option(None, "--config", help="Campaign settings (TOML); flags override it."),
    task: str = typer.Option(None, "--task", help="Task folder (default: the built-in Shakespeare task)."),
    name: str = typer.Option(None, "--name", help="Campaign name: its folder under populations/."),
    model: list[str] = typer.Option(None, "--model", help="litellm model string, or 'offline' (repeatable)."),
    api_base: str = typer.Option(None, "--api-base", help="Base URL for --model (OpenAI-compatible servers)."),
    personas: str = typer.Option(None, "--personas", help="Folder of persona files."),
    islands: int = typer.Option(None, "--islands", help="Number of islands."),
    max_evals: int = typer.Option(None, "--max-evals", help="Budget: evaluations (confirmations included; not those "
                                   "measuring the programs imported with --from)."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Budget: wall-clock minutes."),
    max_cost: float = typer.Option(None, "--max-cost", help="Budget: LLM cost in USD."),
    max_llm_calls: int = typer.Option(None, "--max-llm-calls", help="Budget: LLM calls (default: 4 per "
                                      "evaluation of the budget)."),
    workers: int = typer.Option(None, "--workers", help="Evaluation slots (one per device)."),
    confirm_seeds: int = typer.Option(None, "--confirm-seeds", help="Extra seeds before a new island best."),
    timeout: float = typer.Option(None, "--timeout", help="Per-evaluation timeout in seconds."),
    db: str = typer.Option(None, "--db", help="SQLAlchemy URL of the lineage database."),
    executor: str = typer.Option(None, "--executor", help="Where evaluations run: local (default) or ray."),
    ray_address: str = typer.Option(None, "--ray-address", help="Ray cluster: auto or host:port (with --executor "
                                    "ray; unset: a private Ray on this machine)."),
    seed: int = typer.Option(None, "--seed", help="Campaign seed."),
    start_from: str = typer.Option(None, "--from", help="Start from this campaign's best confirmed candidates."),
    from_db: str = typer.Option(None, "--from-db", help="Database URL of the --from campaign."),
    top: int = typer.Option(None, "--top", help="How many of the --from campaign's best to start from."),
    smoke: bool = typer.Option(None, "--smoke/--no-smoke", help="Tiny training budget (seconds per evaluation)."),
    as_json: bool = typer.Option(False, "--json", help="No live view; print the outcome as JSON."),
) -> None:
    """Launch a campaign and run it to its budget (Ctrl-C stops it; `evolve resume` continues it)."""
    overrides: dict[str, Any] = {}
    for path, value in [("task", task), ("personas", personas), ("islands.count", islands),
                        ("budget.max_evals", max_evals), ("budget.max_minutes", max_minutes),
                        ("budget.max_cost_usd", max_cost), ("budget.max_llm_calls", max_llm_calls),
                        ("evaluation.workers", workers),
                        ("evaluation.confirm_seeds", confirm_seeds), ("evaluation.timeout_s", timeout),
                        ("seed", seed), ("evaluation.smoke", smoke), ("start.campaign", start_from),
                        ("start.db", from_db), ("start.top", top), ("evaluation.executor", executor),
                        ("evaluation.ray_address", ray_address)]:
        _set(overrides, path, value)
    if model:
        overrides["models"] = [{"name": m, **({"api_base": api_base} if api_base else {})} for m in model]
    elif api_base:
        raise typer.BadParameter("--api-base needs --model", param_hint="--api-base")
    cfg = cfgmod.load(config, overrides)
    campaign_name = name or time.strftime("campaign-%Y%m%d-%H%M%S")
    session = prepare_launch(cfg, campaign_name, db)
    if not as_json:
        err.print(f"campaign {campaign_name}: {cfg.budget.max_evals} evaluations, {cfg.islands.count} island(s), "
                  f"{cfg.evaluation.workers} slot(s), model {', '.join(m.name for m in cfg.models)}; "
                  f"folder {session.folder}")
    _finish(session, _run(session, as_json), as_json)


@app.command("resume")
def resume(
    name: str = typer.Argument(..., help="Campaign folder under populations/ (or a path; with --db, its name)."),
    max_evals: int = typer.Option(None, "--max-evals", help="New evaluation budget (total, not additional)."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="New time budget in minutes (total)."),
    max_cost: float = typer.Option(None, "--max-cost", help="New LLM cost budget in USD (total)."),
    max_llm_calls: int = typer.Option(None, "--max-llm-calls", help="New LLM-call budget (total)."),
    db: str = typer.Option(None, "--db", help="SQLAlchemy URL of the lineage database."),
    as_json: bool = typer.Option(False, "--json", help="No live view; print the outcome as JSON."),
) -> None:
    """Continue a stopped or killed campaign: running evaluations are re-queued, finished ones never repeat."""
    session = prepare_resume(name, db, {"max_evals": max_evals, "max_minutes": max_minutes, "max_cost_usd": max_cost,
                                        "max_llm_calls": max_llm_calls})
    _finish(session, _run(session, as_json), as_json)
