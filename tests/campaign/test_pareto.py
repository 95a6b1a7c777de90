"""NSGA-II selection (evolve/pareto.py) on hand-made points whose answers were worked out by hand.

All objectives are minimized.
"""

from __future__ import annotations

import math
import random

import pytest

from evolve import pareto

INF = math.inf

# Three fronts of three points each, shuffled so that input order is not front order:
#   front 0: (1,5) (2,3) (4,1)
#   front 1: (2,5) (3,4) (5,2)   each dominated by a front-0 point, none by another front-1 point
#   front 2: (3,6) (4,5) (6,3)   dominated by (2,5), (3,4), (5,2) respectively
THREE_FRONTS = [(4, 5), (1, 5), (5, 2), (2, 3), (3, 6), (4, 1), (3, 4), (6, 3), (2, 5)]
THREE_FRONTS_RANKS = [2, 0, 1, 0, 2, 0, 1, 2, 1]

# A four-point front whose two objectives have different ranges (10 and 20), plus a two-point front.
#   front 0 by objective 0: (0,20) (1,12) (4,6) (10,0)      range 10
#           by objective 1: (10,0) (4,6) (1,12) (0,20)      range 20
#   (1,12): (4 - 0)/10 + (20 - 6)/20 = 0.4 + 0.7 = 1.1      (unnormalized: 4 + 14 = 18)
#   (4,6):  (10 - 1)/10 + (12 - 0)/20 = 0.9 + 0.6 = 1.5     (unnormalized: 9 + 12 = 21)
#   front 1: (11,1) (5,21), only two points: both inf
SPREAD = [(4, 6), (11, 1), (0, 20), (10, 0), (5, 21), (1, 12)]
SPREAD_RANKS = [0, 1, 0, 0, 1, 0]
SPREAD_CROWDING = [1.5, INF, INF, INF, INF, 1.1]


def test_dominates():
    assert pareto.dominates((1, 2), (2, 3))
    assert not pareto.dominates((2, 3), (1, 2))
    assert pareto.dominates((1, 2), (1, 3))  # a tie in one objective, better in the other
    assert not pareto.dominates((1, 3), (1, 2))
    assert not pareto.dominates((1, 2), (1, 2))  # equal points: neither dominates
    assert not pareto.dominates((1, 3), (2, 2)) and not pareto.dominates((2, 2), (1, 3))  # a trade-off
    assert pareto.dominates((0.5,), (0.75,))


def test_ranks_three_fronts():
    assert pareto.ranks(THREE_FRONTS) == THREE_FRONTS_RANKS
    assert pareto.front(THREE_FRONTS) == [1, 3, 5]


def test_ranks_three_objectives():
    # (1,2,3) (3,2,1) (2,2,2) trade off; (1,2,4) is dominated by (1,2,3) (a tie in two objectives);
    # (2,3,4) is dominated by (1,2,4), so it sits one front further; (4,4,4) is dominated by (2,3,4).
    points = [(1, 2, 3), (3, 2, 1), (2, 2, 2), (2, 3, 4), (1, 2, 4), (4, 4, 4)]
    assert pareto.ranks(points) == [0, 0, 0, 2, 1, 3]
    assert pareto.front(points) == [0, 1, 2]


def test_duplicates_share_a_rank():
    assert pareto.ranks([(1, 1), (1, 1), (2, 2)]) == [0, 0, 1]
    assert pareto.front([(1, 1), (1, 1), (2, 2)]) == [0, 1]
    # duplicates outside the first front too: (1,2) twice, with (2,1), all dominated by (0,0)
    assert pareto.ranks([(0, 0), (1, 2), (1, 2), (2, 1)]) == [0, 1, 1, 1]


def test_single_point():
    assert pareto.ranks([(3, 7)]) == [0]
    assert pareto.crowding([(3, 7)], [0]) == [INF]
    assert pareto.front([(3, 7)]) == [0]
    assert pareto.order([(3, 7)]) == [0]
    assert pareto.tournament([(3, 7)], random.Random(0), size=2) == 0


def test_no_points():
    assert pareto.ranks([]) == []
    assert pareto.crowding([], []) == []
    assert pareto.front([]) == []
    assert pareto.order([]) == []


def test_all_points_equal():
    points = [(3, 3)] * 4
    assert pareto.ranks(points) == [0, 0, 0, 0]
    assert pareto.front(points) == [0, 1, 2, 3]
    # every objective has range 0 in the front: nothing is added, not even inf to the "extremes"
    assert pareto.crowding(points, [0, 0, 0, 0]) == [0.0, 0.0, 0.0, 0.0]
    assert pareto.order(points) == [0, 1, 2, 3]
    assert pareto.crowding([(3, 3)] * 2, [0, 0]) == [INF, INF]


def test_crowding_is_normalized_and_per_front():
    got = pareto.crowding(SPREAD, SPREAD_RANKS)
    assert got == pytest.approx(SPREAD_CROWDING)
    assert [math.isinf(c) for c in got] == [False, True, True, True, True, False]


def test_crowding_three_point_fronts():
    # every front of THREE_FRONTS has one inner point, whose neighbours span the whole range of both
    # objectives: 1 + 1 = 2.0 (front 0: (4 - 1)/3 + (5 - 1)/4 at index 3; front 1: (3, 4) at index 6;
    # front 2: (4, 5) at index 0)
    assert pareto.crowding(THREE_FRONTS, THREE_FRONTS_RANKS) == pytest.approx(
        [2.0, INF, INF, 2.0, INF, INF, 2.0, INF, INF]
    )


def test_crowding_skips_an_objective_with_zero_range():
    # objective 0 is 0 everywhere: it adds nothing (no inf for points 0 and 3, no division by zero)
    #   objective 1 sorted: p0 0, p3 .25, p2 .5, p1 1      p3: (.5 - 0) = .5    p2: (1 - .25) = .75
    #   objective 2 sorted: p1 0, p2 .5, p3 .75, p0 1      p2: (.75 - 0) = .75  p3: (1 - .5) = .5
    points = [(0, 0, 1), (0, 1, 0), (0, 0.5, 0.5), (0, 0.25, 0.75)]
    assert pareto.ranks(points) == [0, 0, 0, 0]
    assert pareto.crowding(points, [0, 0, 0, 0]) == pytest.approx([INF, INF, 1.5, 1.0])


def test_crowding_with_an_infinite_objective_stays_a_number():
    points = [(0, INF), (1, 2), (2, 1), (INF, 0)]
    # both ranges are infinite: the extremes are still inf, the inner points get nothing (and no NaN)
    assert pareto.ranks(points) == [0, 0, 0, 0]
    assert pareto.crowding(points, [0, 0, 0, 0]) == [INF, 0.0, 0.0, INF]


def test_order():
    # rank first, then crowding descending, then index: within each front the two inf ends by index
    assert pareto.order(THREE_FRONTS) == [1, 5, 3, 2, 8, 6, 4, 7, 0]
    # front 0: inf at 2 and 3, then 1.5 (index 0) before 1.1 (index 5); front 1: two inf, by index
    assert pareto.order(SPREAD) == [2, 3, 0, 5, 1, 4]


def test_tournament_is_deterministic_for_a_seed():
    first = [pareto.tournament(THREE_FRONTS, random.Random(7)) for _ in range(5)]
    rng_a, rng_b = random.Random(11), random.Random(11)
    a = [pareto.tournament(SPREAD, rng_a, size=3) for _ in range(50)]
    b = [pareto.tournament(SPREAD, rng_b, size=3) for _ in range(50)]
    assert a == b
    assert len(set(first)) == 1


def test_tournament_picks_the_better_of_the_drawn():
    rng = random.Random(3)
    ranking = pareto.order(SPREAD)  # [2, 3, 0, 5, 1, 4]
    wins = [pareto.tournament(SPREAD, rng, size=2) for _ in range(2000)]
    # two distinct indices are drawn, so the overall worst (index 4) can never win, and every other
    # index wins sometimes (each beats at least the worst)
    assert ranking[-1] not in wins
    assert set(wins) == set(ranking[:-1])
    # the best wins whenever drawn: with 6 points, in 5 of the 15 pairs, about 2000/3 times
    assert 550 < wins.count(ranking[0]) < 790


def test_tournament_of_everyone_returns_the_overall_best():
    rng = random.Random(0)
    for size in (len(SPREAD), len(SPREAD) + 5):
        assert all(pareto.tournament(SPREAD, rng, size=size) == 2 for _ in range(20))
    assert pareto.tournament(THREE_FRONTS, rng, size=len(THREE_FRONTS)) == 1
    # size 1 is a uniform draw: every index turns up
    assert {pareto.tournament(SPREAD, rng, size=1) for _ in range(300)} == set(range(len(SPREAD)))


def test_tournament_errors():
    with pytest.raises(ValueError):
        pareto.tournament([], random.Random(0))
    with pytest.raises(ValueError):
        pareto.tournament(SPREAD, random.Random(0), size=0)


def test_would_enter_front():
    assert not pareto.would_enter_front((3, 3), THREE_FRONTS)  # dominated by (2,3)
    assert not pareto.would_enter_front((2, 4), THREE_FRONTS)  # dominated by (2,3), ties objective 0
    assert pareto.would_enter_front((0, 10), THREE_FRONTS)  # trades off against all of front 0
    assert pareto.would_enter_front((2, 3), THREE_FRONTS)  # equal to a front-0 point
    assert pareto.would_enter_front((1, 1), THREE_FRONTS)  # dominates part of front 0
    assert pareto.would_enter_front((9, 9), [])
    assert pareto.would_enter_front((3, 3), [(3, 3)])


MIXED = [(1, 2), (1, 2, 3)]
WITH_NAN = [(1, 2), (math.nan, 0)]


@pytest.mark.parametrize("bad", [MIXED, WITH_NAN, [(), ()]], ids=["mixed-lengths", "nan", "no-objectives"])
def test_bad_points_are_refused(bad):
    with pytest.raises(ValueError):
        pareto.dominates(*bad)
    with pytest.raises(ValueError):
        pareto.ranks(bad)
    with pytest.raises(ValueError):
        pareto.crowding(bad, [0, 0])
    with pytest.raises(ValueError):
        pareto.front(bad)
    with pytest.raises(ValueError):
        pareto.order(bad)
    with pytest.raises(ValueError):
        pareto.tournament(bad, random.Random(0))
    with pytest.raises(ValueError):
        pareto.would_enter_front(bad[0], bad[1:])
    with pytest.raises(ValueError):
        pareto.would_enter_front(bad[1], bad[:1])


def test_crowding_needs_one_rank_per_point():
    with pytest.raises(ValueError):
        pareto.crowding([(1, 2), (2, 1)], [0])


def test_nan_candidate_is_refused_against_an_empty_front():
    with pytest.raises(ValueError):
        pareto.would_enter_front((math.nan,), [])


def test_the_two_objective_sort_agrees_with_the_general_one():
    """Two objectives take the O(N log N) path; a constant third objective forces the general O(N^2) one,
    which must give the same ranks (ties, duplicates and an unmeasured, infinite cost included)."""
    for trial in range(300):
        rng = random.Random(trial)
        points = [(float(rng.randint(0, 6)), rng.choice([float(rng.randint(0, 6)), INF]))
                  for _ in range(rng.randint(1, 40))]
        assert pareto.ranks(points) == pareto.ranks([(a, b, 0.0) for a, b in points]), points
