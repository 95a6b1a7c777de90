"""Multi-objective selection in the style of NSGA-II (Deb et al. 2002), on plain objective vectors.

An evolutionary search that trades several objectives off against each other (say validation loss
against training FLOPs) has no single "best" candidate, only a Pareto front: the candidates that no
other candidate beats on every objective at once. This module ranks candidates the NSGA-II way:

* `ranks` sorts them into successive non-dominated fronts (0 = the current Pareto front);
* `crowding` measures, inside each front, how isolated a point is, so selection keeps the front spread
  out instead of piling onto one region;
* `order` and `tournament` pick by (rank ascending, crowding descending, index ascending).

Every objective is MINIMIZED. Points are sequences of floats, all of the same length (at least 1);
NaN is refused. Nothing here does I/O or keeps state: randomness comes only from the caller's
`random.Random`, so the same inputs and the same RNG state always give the same answer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

Point = Sequence[float]


def loss_and_cost(loss: float, cost: float | None) -> tuple[float, float]:
    """A candidate's point on the (validation loss, training FLOPs) front, the one rule every reader uses:
    an unmeasured cost counts as the worst, so such a candidate never dominates a measured one."""
    return (loss, math.inf if cost is None else cost)


def _check(points: Sequence[Point]) -> list[tuple[float, ...]]:
    """The points as float tuples, after checking they share one length >= 1 and hold no NaN."""
    out = [tuple(float(x) for x in p) for p in points]
    if out:
        width = len(out[0])
        if width < 1:
            raise ValueError("a point needs at least one objective")
        for i, p in enumerate(out):
            if len(p) != width:
                raise ValueError(f"point {i} has {len(p)} objectives, expected {width}")
            if any(math.isnan(x) for x in p):
                raise ValueError(f"point {i} contains NaN")
    return out


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def dominates(a: Point, b: Point) -> bool:
    """True when `a` is no worse than `b` in every objective and strictly better in at least one."""
    pa, pb = _check([a, b])
    return _dominates(pa, pb)


def _ranks_2d(pts: list[tuple[float, ...]]) -> list[int]:
    """Ranks for two objectives in O(N log N): points taken by (first, second) ascending; each front keeps
    the last point it took, which has that front's lowest second objective, and a point joins the first
    front whose last point does not dominate it. Those last points' second objectives rise with the
    front's rank, so the first such front is found by bisection."""
    tails: list[tuple[float, float]] = []  # per front: (second, first) of the last point it took
    result = [0] * len(pts)
    for i in sorted(range(len(pts)), key=lambda i: (pts[i], i)):
        x, y = pts[i]
        lo, hi = 0, len(tails)
        while lo < hi:  # the first front whose tail does not dominate (x, y)
            mid = (lo + hi) // 2
            ty, tx = tails[mid]
            if ty < y or (ty == y and tx < x):
                lo = mid + 1
            else:
                hi = mid
        if lo == len(tails):
            tails.append((y, x))
        else:
            tails[lo] = (y, x)
        result[i] = lo
    return result


def ranks(points: Sequence[Point]) -> list[int]:
    """The non-domination rank of each point: 0 for the non-dominated set, 1 for the set that is
    non-dominated once front 0 is removed, and so on (fast non-dominated sort, O(M N^2); O(N log N)
    for two objectives). Identical points never dominate each other, so they share a rank."""
    pts = _check(points)
    if pts and len(pts[0]) == 2:
        return _ranks_2d(pts)
    beaten, beaten_by = _domination(pts)
    result = [0] * len(pts)
    current = [i for i in range(len(pts)) if beaten_by[i] == 0]
    rank = 0
    while current:  # peel the fronts: a point's rank is set once every point dominating it is ranked
        following = []
        for i in current:
            result[i] = rank
            for j in beaten[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    following.append(j)
        current, rank = following, rank + 1
    return result


def _domination(pts: Sequence[Point]) -> tuple[list[list[int]], list[int]]:
    """For each point, the points it dominates, and how many points dominate it."""
    n = len(pts)
    beaten: list[list[int]] = [[] for _ in range(n)]
    beaten_by = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            if _dominates(pts[i], pts[j]):
                beaten[i].append(j)
                beaten_by[j] += 1
            elif _dominates(pts[j], pts[i]):
                beaten[j].append(i)
                beaten_by[i] += 1
    return beaten, beaten_by


def crowding(points: Sequence[Point], ranks: Sequence[int]) -> list[float]:
    """The crowding distance of each point within its own front (the points sharing its rank).

    Per objective, the front is sorted (ties by index); its two extreme points get math.inf and each
    inner point adds (next - prev) / (max - min). An objective whose range in the front is 0 adds
    nothing, not even to the extremes; one whose range is infinite (an unmeasured cost) marks the
    extremes but adds nothing to the inner points, since it cannot be normalized. Every point of a
    front of 1 or 2 points gets math.inf."""
    pts = _check(points)
    if len(ranks) != len(pts):
        raise ValueError(f"{len(ranks)} ranks for {len(pts)} points")
    distance = [0.0] * len(pts)
    fronts: dict[int, list[int]] = {}
    for i, r in enumerate(ranks):
        fronts.setdefault(r, []).append(i)
    for members in fronts.values():
        if len(members) <= 2:
            for i in members:
                distance[i] = math.inf
            continue
        for m in range(len(pts[0])):
            by_value = sorted(members, key=lambda i, m=m: (pts[i][m], i))
            span = pts[by_value[-1]][m] - pts[by_value[0]][m]
            if span == 0:
                continue
            distance[by_value[0]] = distance[by_value[-1]] = math.inf
            if math.isinf(span):
                continue
            for k in range(1, len(by_value) - 1):
                distance[by_value[k]] += (pts[by_value[k + 1]][m] - pts[by_value[k - 1]][m]) / span
    return distance


def front(points: Sequence[Point]) -> list[int]:
    """The indices of the rank-0 (non-dominated) points, in input order."""
    return [i for i, r in enumerate(ranks(points)) if r == 0]


def _keys(points: Sequence[Point]) -> list[tuple[int, float, int]]:
    r = ranks(points)
    c = crowding(points, r)
    return [(r[i], -c[i], i) for i in range(len(r))]


def order(points: Sequence[Point]) -> list[int]:
    """All indices, best first: rank ascending, then crowding descending, then index ascending."""
    keys = _keys(points)
    return sorted(range(len(keys)), key=keys.__getitem__)


def tournament(points: Sequence[Point], rng: random.Random, size: int = 2) -> int:
    """Draw `size` distinct indices uniformly with `rng` (all of them if there are fewer points) and
    return the best by (rank, -crowding, index). Rank and crowding are those of the whole population."""
    keys = _keys(points)
    if not keys:
        raise ValueError("a tournament needs at least one point")
    if size < 1:
        raise ValueError(f"tournament size must be >= 1, got {size}")
    drawn = rng.sample(range(len(keys)), min(size, len(keys)))
    return min(drawn, key=keys.__getitem__)


def would_enter_front(point: Point, points: Sequence[Point]) -> bool:
    """True when no point of `points` dominates `point`: it would join (or reshape) the current front.
    A point equal to one already there is not dominated by it, so this is True for it as well."""
    candidate, *others = _check([point, *points])
    return not any(_dominates(p, candidate) for p in others)
