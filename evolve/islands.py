"""Selection and migration on plain values: no database, no I/O, every draw from the caller's RNG.

The campaign passes a `random.Random` derived from (campaign seed, event number), so the same state and
the same event number always give the same choice, which is what makes a resumed campaign repeatable.
"""

from __future__ import annotations

import math
import random
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass

from evolve import pareto as pt
from evolve.config import Operators, Selection
from evolve.kinds import Operator


@dataclass(frozen=True)
class Individual:
    id: int
    fitness: float | None  # None unless ok
    children: int = 0
    cost: float | None = None  # training FLOPs (the Pareto objective's second term); None when not measured
    provisional: bool = False  # fitness is its first evaluation's loss, its confirmation still to come

    @property
    def point(self) -> tuple[float, float]:
        """(loss, cost) to minimize together; an unmeasured cost counts as the worst."""
        return pt.loss_and_cost(self.fitness, self.cost)


def _ranked(pool: Sequence[Individual]) -> list[Individual]:
    return sorted((p for p in pool if p.fitness is not None), key=lambda p: (p.fitness, p.id))


def _pareto_ranked(pool: Sequence[Individual]) -> list[Individual]:
    """Scored members best first by non-domination rank over (loss, cost), then crowding (NSGA-II)."""
    scored = _ranked(pool)
    return [scored[i] for i in pt.order([p.point for p in scored])] if scored else []


def select_parent(rng: random.Random, pool: Sequence[Individual], sel: Selection,
                  exclude: Container[int] = (), pareto: bool = False) -> Individual | None:
    """A parent among the scored members of an island, none of `exclude` (None if there is none). With
    `pareto`, a tournament of `sel.tournament_size` by non-domination rank and crowding over (loss, cost).
    Otherwise the best with probability `sel.elite` (the improving line is extended), else by `sel.method`
    (every member but the worst can be chosen: the island keeps its other lines)."""
    ranked = [p for p in _ranked(pool) if p.id not in exclude]
    if not ranked:
        return None
    if pareto:
        return ranked[pt.tournament([p.point for p in ranked], rng, max(2, sel.tournament_size))]
    if sel.elite and rng.random() < sel.elite:
        return ranked[0]
    if sel.method == "tournament":
        entrants = rng.sample(ranked, min(sel.tournament_size, len(ranked)))
        return min(entrants, key=lambda p: (p.fitness, p.id))
    best = ranked[0].fitness
    weights = [math.exp(-(p.fitness - best) / sel.temperature) / (1.0 + sel.children_penalty * p.children)
               for p in ranked]
    return rng.choices(ranked, weights=weights, k=1)[0]


def choose_operator(rng: random.Random, mix: Operators, can_crossover: bool, can_repair: bool) -> Operator:
    """mutate / crossover / repair by the configured weights, among those possible now (mutate always is)."""
    options = [(Operator.MUTATE, mix.mutate), (Operator.CROSSOVER, mix.crossover if can_crossover else 0.0),
               (Operator.REPAIR, mix.repair if can_repair else 0.0)]
    options = [(name, w) for name, w in options if w > 0]
    if not options:
        return Operator.MUTATE
    return rng.choices([n for n, _ in options], weights=[w for _, w in options], k=1)[0]


def choose_persona(rng: random.Random, personas: Sequence[str], record: Mapping[str, tuple[int, int]],
                   method: str, exploration: float) -> str:
    """Uniform, or UCB1 over (children, improving children) per persona: untried personas come first."""
    if method == "uniform":
        return rng.choice(list(personas))
    untried = [p for p in personas if record.get(p, (0, 0))[0] == 0]
    if untried:
        return rng.choice(untried)
    total = sum(record[p][0] for p in personas)

    def ucb(p: str) -> float:
        n, wins = record[p]
        return wins / n + exploration * math.sqrt(math.log(total) / n)

    scores = {p: ucb(p) for p in personas}
    top = max(scores.values())
    return rng.choice([p for p in personas if math.isclose(scores[p], top, rel_tol=1e-12, abs_tol=1e-12)])


def island_personas(personas: Sequence[str], islands: int, mode: str) -> list[list[str]]:
    """Which personas work on which island: all everywhere, or one school (a round-robin share) each."""
    if mode == "all" or islands == 1:
        return [list(personas) for _ in range(islands)]
    schools: list[list[str]] = [[] for _ in range(islands)]
    for i, p in enumerate(personas):
        schools[i % islands].append(p)
    for i in range(islands):  # more islands than personas: an island borrows one rather than stand idle
        if not schools[i]:
            schools[i] = [personas[i % len(personas)]]
    return schools


def migrants(pool: Sequence[Individual], k: int, pareto: bool = False) -> list[int]:
    """The ids of an island's top-k scored members, best first (by rank and crowding with `pareto`); none
    whose fitness is still provisional."""
    confirmed = [p for p in pool if not p.provisional]
    return [p.id for p in (_pareto_ranked(confirmed) if pareto else _ranked(confirmed))[:k]]


def enters_front(loss: float, cost: float | None, pool: Sequence[Individual]) -> bool:
    """Whether a candidate at (loss, cost) would join the island's Pareto front: none of it dominates it."""
    return pt.would_enter_front(pt.loss_and_cost(loss, cost), [p.point for p in _ranked(pool)])


def ring_target(island: int, islands: int) -> int:
    return (island + 1) % islands
