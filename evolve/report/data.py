"""Everything the report shows, gathered from lineage queries into plain frozen values.

The x axis of the loss and migration plots is the evaluation number (how many evaluations the campaign
had recorded at that moment): it is what the budget counts, and unlike wall-clock time it does not stretch
when a campaign was stopped and resumed a day later. LLM usage is plotted against minutes since launch.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from evolve import lineage, pareto
from evolve.lineage import report_queries as rq
from evolve.lineage.diff import file_diffs as lineage_file_diffs
from evolve.report.colours import persona_colours
from evolve.report.tree import Tree, build_tree

DIFF_CHARS = 40_000  # per file and node: a rewritten file is still readable, a runaway one stays bounded


@dataclass(frozen=True)
class Curve:
    """Best fitness so far as a step function: (evaluation number, best) at each improvement."""

    label: str
    island: int | None
    steps: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class SeedLevel:
    """A seed's mean loss and the spread of its per-seed losses: the noise an improvement must beat."""

    candidate: int
    islands: tuple[int, ...]
    level: float | None
    low: float | None
    high: float | None
    losses: tuple[float, ...]

    @property
    def spread(self) -> float | None:
        """Its highest loss minus its lowest, over two or more seeds: the terminal summary's "seed's spread"."""
        if len(self.losses) < 2 or self.low is None or self.high is None:
            return None
        return self.high - self.low


@dataclass(frozen=True)
class Migration:
    evaluation: int
    source: int
    target: int
    round: int | None
    candidates: tuple[int, ...]


@dataclass(frozen=True)
class LlmPoint:
    minute: float
    tokens_in: int  # cumulative
    tokens_out: int
    cost_usd: float
    failed: int


@dataclass(frozen=True)
class CostPoint:
    """An ok candidate on the loss-against-compute plane."""

    id: int
    fitness: float
    train_flops: float
    seed: bool
    front: bool  # no other ok candidate has a lower (or equal) loss at a lower (or equal) cost


@dataclass(frozen=True)
class CandidateRow:
    """One row of the table of every candidate."""

    id: int
    island: int
    parent_id: int | None
    parent2_id: int | None
    persona: str | None
    operator: str
    summary: str  # what the proposal says it changed
    status: str
    reason: str
    fitness: float | None
    gain: float | None  # first parent's fitness minus its own: positive is better
    train_flops: float | None


@dataclass(frozen=True)
class ReportData:
    campaign: str
    task: str
    status: str
    created_at: datetime
    summary: lineage.StatusSummary
    evaluations: int
    islands: tuple[int, ...]
    overall: Curve
    per_island: tuple[Curve, ...]
    scored: tuple[tuple[int, float], ...]  # every ok candidate: (evaluation it finished at, fitness)
    seeds: tuple[SeedLevel, ...]
    tree: Tree
    diffs: dict[int, dict[str, Any]]
    personas: list[dict[str, Any]]
    operators: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    migrations: tuple[Migration, ...]
    llm: tuple[LlmPoint, ...]
    costs: tuple[CostPoint, ...] = ()  # the ok candidates whose training FLOPs were measured
    candidates: tuple[CandidateRow, ...] = ()  # every candidate, by id
    # One colour per persona for every section of the page: made once, from all the campaign's personas.
    colours: dict[str | None, str] = field(default_factory=lambda: persona_colours(()))

    @property
    def priced(self) -> bool:
        """Whether any LLM call had a price. The offline operator's calls cost 0.0, and so are recorded those
        of a model litellm cannot price (a local server): then the page shows no cost at all, not $0.0000."""
        return bool(self.llm) and self.llm[-1].cost_usd > 0

    def seed(self) -> SeedLevel | None:
        """The best seed (every island starts from the seeds): the reference of the header's gain."""
        pool = [s for s in self.seeds if s.level is not None]
        return min(pool, key=lambda s: s.level or 0.0) if pool else None

    def cost_highlights(self) -> tuple[CostPoint | None, CostPoint | None]:
        """The lowest-loss candidate, and the cheapest one whose loss is at most the best seed's."""
        if not self.costs:
            return None, None
        best = min(self.costs, key=lambda p: (p.fitness, p.train_flops, p.id))
        seeds = [p.fitness for p in self.costs if p.seed]
        within = [p for p in self.costs if seeds and p.fitness <= min(seeds)]
        return best, min(within, key=lambda p: (p.train_flops, p.fitness, p.id)) if within else None


def _eval_no(times: list[datetime], t: datetime | None) -> int:
    """How many evaluations had been recorded at time t (a candidate finishes after its last one)."""
    return len(times) if t is None else bisect.bisect_right(times, t)


def _steps(points: list[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    best: float | None = None
    out: list[tuple[int, float]] = []
    for x, y in sorted(points):
        if best is None or y < best:
            best = y
            out.append((x, y))
    return tuple(out)


def _curves(
    memberships: list[dict[str, Any]], times: list[datetime], islands: tuple[int, ...]
) -> tuple[Curve, tuple[Curve, ...], tuple[tuple[int, float], ...]]:
    finished: dict[int, tuple[int, float]] = {}
    per_island: dict[int, list[tuple[int, float]]] = {i: [] for i in islands}
    for m in memberships:
        done = _eval_no(times, m["finished_at"])
        finished[m["candidate_id"]] = (done, m["fitness"])
        # A migrant counts for its new island from the moment it arrived, not from when it was bred.
        arrived = max(done, _eval_no(times, m["joined_at"]))
        per_island.setdefault(m["island"], []).append((arrived, m["fitness"]))
    scored = tuple(sorted(finished.values()))
    overall = Curve("all islands", None, _steps(list(scored)))
    curves = tuple(Curve(f"island {i}", i, _steps(pts)) for i, pts in sorted(per_island.items()))
    return overall, curves, scored


def _seed_levels(rows: list[dict[str, Any]]) -> tuple[SeedLevel, ...]:
    levels = []
    for r in rows:
        losses = tuple(r["losses"].values())
        levels.append(
            SeedLevel(
                candidate=r["id"],
                islands=tuple(r["islands"]),
                level=r["fitness"],
                low=min(losses) if losses else None,
                high=max(losses) if losses else None,
                losses=losses,
            )
        )
    return tuple(levels)


def _migrations(events: list[dict[str, Any]], times: list[datetime]) -> tuple[Migration, ...]:
    out = []
    for e in events:
        p = e["payload"]
        out.append(
            Migration(
                evaluation=_eval_no(times, e["created_at"]),
                source=int(p["from"]),
                target=int(p["to"]),
                round=p.get("round"),
                candidates=tuple(p.get("candidates", ())),
            )
        )
    return tuple(out)


def _llm(calls: list[dict[str, Any]], start: datetime) -> tuple[LlmPoint, ...]:
    tin = tout = failed = 0
    cost = 0.0
    points = []
    for c in calls:
        tin += c["tokens_in"]
        tout += c["tokens_out"]
        cost += c["cost_usd"]
        failed += c["failed"]
        minute = max(0.0, (c["created_at"] - start).total_seconds() / 60)
        points.append(LlmPoint(minute, tin, tout, cost, failed))
    return tuple(points)


def _bounded(text: str) -> str:
    if len(text) <= DIFF_CHARS:
        return text
    return text[:DIFF_CHARS] + f"\n[... cut at {DIFF_CHARS:,} characters; `evolve show NAME ID --diff` has it all]\n"


def file_diffs(before: dict[str, str], after: dict[str, str], parent_id: int, child_id: int) -> list[dict[str, str]]:
    """`lineage.file_diffs`, each diff bounded for the page."""
    return [{**f, "diff": _bounded(f["diff"])} for f in lineage_file_diffs(before, after, parent_id, child_id)]


def _diffs(db: lineage.Database, campaign_id: int, tree: Tree) -> dict[int, dict[str, Any]]:
    """Each drawn node against its first parent (drawn or not), with all files read in one query: one
    `lineage.diff` per node costs a dozen queries, which at the node cap is most of the report's time."""
    parents = {n.id: n.parent_id for n in tree.nodes}
    files = rq.files_of(db, campaign_id, [*parents, *(p for p in parents.values() if p is not None)])
    return {
        i: {"parent": p, "files": [] if p is None else file_diffs(files[p], files[i], p, i)}
        for i, p in parents.items()
    }


def _costs(rows: list[dict[str, Any]]) -> tuple[CostPoint, ...]:
    """The measured points to plot, each marked if it is on the front taken over every row (as `evolve top
    --pareto` takes it: a row without a measured cost is on it only when nothing has a lower loss)."""
    front = set(pareto.front([pareto.loss_and_cost(r["fitness"], r["train_flops"]) for r in rows]))
    return tuple(CostPoint(r["id"], r["fitness"], r["train_flops"], r["seed"], i in front)
                 for i, r in enumerate(rows) if r["train_flops"] is not None)


def gather(db: lineage.Database, campaign_id: int, *, max_nodes: int = 120, lineages: int = 3) -> ReportData:
    """Read the campaign once into a ReportData. The tree holds at most `max_nodes` candidates: the main
    lines (first parents) of the best `lineages` candidates first, then their other ancestors nearest
    first, so a 10,000-candidate campaign draws (and embeds diffs for) a bounded number of nodes."""
    info = lineage.campaign(db, campaign_id)
    summary = lineage.status_summary(db, campaign_id)
    islands = tuple(r.island for r in lineage.island_stats(db, campaign_id))
    times = rq.evaluation_times(db, campaign_id)
    overall, per_island, scored = _curves(rq.scored_memberships(db, campaign_id), times, islands)
    best = [r.id for r in lineage.top(db, campaign_id, lineages)]
    ancestors = {r.id: r for b in best for r in lineage.ancestry(db, campaign_id, b)}
    tree = build_tree(ancestors, best, max_nodes)
    credit = lineage.persona_stats(db, campaign_id).to_dict()  # the page's tables
    candidates = tuple(CandidateRow(**r) for r in rq.candidate_rows(db, campaign_id))
    # A persona whose calls all failed has a leaderboard row and no candidate: both sets name colours.
    colours = persona_colours([*(c.persona for c in candidates), *(r["persona"] for r in credit["persona"])])
    return ReportData(
        campaign=info.name,
        task=info.task_name,
        status=info.status,
        created_at=info.created_at,
        summary=summary,
        evaluations=len(times),
        islands=islands,
        overall=overall,
        per_island=per_island,
        scored=scored,
        seeds=_seed_levels(rq.seed_evaluations(db, campaign_id)),
        tree=tree,
        diffs=_diffs(db, campaign_id, tree),
        personas=credit["persona"],
        operators=credit["operator"],
        failures=rq.failure_reasons(db, campaign_id),
        migrations=_migrations(rq.events_of_kind(db, campaign_id, "migration"), times),
        llm=_llm(rq.llm_usage(db, campaign_id), info.created_at),
        costs=_costs(rq.cost_points(db, campaign_id)),
        candidates=candidates,
        colours=colours,
    )
