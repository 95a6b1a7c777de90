"""The search policy in evolve/islands.py, checked statistically: parent selection, operator and persona choice,
the islands' schools and migration.

In the manner of FunSearch's programs_database_test: every test draws from a seeded `random.Random`, many times,
and compares the observed frequencies with the intended distribution. The margins are several standard
deviations wide (with N draws a frequency p has a standard deviation of sqrt(p(1 - p) / N), at most 0.0035 for
N = 20,000), and since every RNG is seeded the outcome is deterministic anyway.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Collection, Hashable

import pytest

from evolve.config import Islands, Migration, Operators, PersonaChoice, Selection
from evolve.islands import (
    Individual,
    choose_operator,
    choose_persona,
    island_personas,
    migrants,
    ring_target,
    select_parent,
)

N = 20_000  # draws per distribution
MARGIN = 0.02  # allowed |observed - expected| frequency: > 5 standard deviations at N draws

PERSONAS = ["newton", "curie", "turing", "hopper", "noether"]


def _shares(draw: Callable[[], Hashable], n: int = N) -> dict[Hashable, float]:
    counts = Counter(draw() for _ in range(n))
    return {key: count / n for key, count in counts.items()}


def _pick(rng: random.Random, pool: list[Individual], sel: Selection, exclude: Collection[int] = ()) -> Callable:
    def draw() -> int | None:
        chosen = select_parent(rng, pool, sel, exclude=exclude)
        return None if chosen is None else chosen.id

    return draw


def _ladder(n: int) -> list[Individual]:
    """n scored individuals, id 0 the best (lowest loss) to id n-1 the worst, listed in shuffled order."""
    pool = [Individual(i, 2.0 + 0.1 * i) for i in range(n)]
    random.Random(99).shuffle(pool)
    return pool


def _assert_close(observed: dict, expected: dict, margin: float = MARGIN) -> None:
    for key in set(observed) | set(expected):
        got, want = observed.get(key, 0.0), expected.get(key, 0.0)
        assert abs(got - want) <= margin, f"{key!r}: observed share {got:.4f}, expected {want:.4f}"


# --- the settings the policy reads -------------------------------------------------------------------------


def test_the_defaults_are_the_policy_these_tests_assume() -> None:
    assert Selection().method == "tournament" and Selection().tournament_size >= 2
    assert PersonaChoice().method == "bandit" and PersonaChoice().exploration > 0
    assert Islands().personas == "all"
    assert Migration().top_k >= 1
    ops = Operators()
    assert ops.mutate > ops.crossover > ops.repair > 0


# --- tournament selection ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 3, 4])
def test_tournament_prefers_the_fitter_and_never_picks_the_worst(size: int) -> None:
    n = 6
    shares = _shares(_pick(random.Random(size), _ladder(n), Selection(elite=0.0, tournament_size=size)))
    # Entrants are drawn without replacement and the lowest loss wins: rank r (0 = best) wins exactly when it
    # is drawn and no better one is, so P(r) = C(n - 1 - r, size - 1) / C(n, size).
    expected = {r: math.comb(n - 1 - r, size - 1) / math.comb(n, size) for r in range(n)}
    _assert_close(shares, expected)
    assert max(shares, key=shares.get) == 0, "the best is the most chosen"
    assert n - 1 not in shares, "the worst can never win a tournament of two or more"
    ranked = [shares.get(r, 0.0) for r in range(n)]
    assert ranked == sorted(ranked, reverse=True), "a fitter individual is never chosen less often"


# --- the elite share: the improving line is extended, the other lines are kept ------------------------------


@pytest.mark.parametrize("elite", [0.0, 0.5, 0.8, 1.0])
def test_the_best_is_chosen_outright_at_the_elite_share_and_else_by_tournament(elite: float) -> None:
    n, size = 6, 2
    shares = _shares(_pick(random.Random(int(elite * 10)), _ladder(n), Selection(elite=elite, tournament_size=size)))
    tournament = {r: math.comb(n - 1 - r, size - 1) / math.comb(n, size) for r in range(n)}
    _assert_close(shares, {r: elite * (r == 0) + (1 - elite) * p for r, p in tournament.items()})
    if elite < 1:  # diversity: every member but the worst stays a possible parent
        assert set(shares) == set(range(n - 1))


def test_the_default_policy_favours_the_best_and_keeps_other_lines() -> None:
    n, sel = 8, Selection()
    shares = _shares(_pick(random.Random(7), _ladder(n), sel))
    assert shares[0] >= sel.elite and 0 < sel.elite < 1
    # a tournament of k never picks the k - 1 worst; every other member stays a possible parent
    assert set(shares) == set(range(n - sel.tournament_size + 1)) and min(shares.values()) > 0.005


def test_a_provisional_best_is_a_parent_but_never_a_migrant() -> None:
    pool = [Individual(1, 2.0), Individual(2, 1.5, provisional=True), Individual(3, 2.5)]
    sel = Selection(elite=1.0)
    assert select_parent(random.Random(0), pool, sel).id == 2
    assert migrants(pool, 2) == [1, 3]


def test_a_second_parent_from_another_line_when_there_is_one() -> None:
    pool = _ladder(5)
    line = {0, 1}  # the first parent's line: it and its relatives
    shares = _shares(_pick(random.Random(5), pool, Selection(), exclude=line))
    assert set(shares) <= {2, 3, 4} and shares[2] >= Selection().elite


def test_tournament_of_one_is_uniform() -> None:
    n = 5
    shares = _shares(_pick(random.Random(1), _ladder(n), Selection(elite=0.0, tournament_size=1)))
    _assert_close(shares, {r: 1 / n for r in range(n)})


def test_a_larger_tournament_picks_the_best_more_often() -> None:
    n = 6
    best_share = []
    for size in range(1, n + 1):
        shares = _shares(_pick(random.Random(10 + size), _ladder(n), Selection(elite=0.0, tournament_size=size)))
        best_share.append(shares.get(0, 0.0))
        assert abs(best_share[-1] - size / n) <= MARGIN  # the best wins whenever it enters: P = size / n
    assert all(b - a > 0.1 for a, b in zip(best_share, best_share[1:], strict=False)), best_share
    assert best_share[-1] == 1.0, "a tournament of the whole island always picks its best"


def test_a_tournament_larger_than_the_island_takes_everyone_and_picks_the_best() -> None:
    rng = random.Random(2)
    pool = _ladder(3)
    assert {select_parent(rng, pool, Selection(elite=0.0, tournament_size=50)).id for _ in range(200)} == {0}


def test_equal_losses_go_to_the_older_id() -> None:
    rng = random.Random(3)
    pool = [Individual(7, 1.5), Individual(4, 1.5), Individual(9, 1.5)]
    assert {select_parent(rng, pool, Selection(elite=0.0, tournament_size=3)).id for _ in range(200)} == {4}


@pytest.mark.parametrize("sel", [Selection(tournament_size=1), Selection(tournament_size=3),
                                 Selection(method="weighted", temperature=1000.0)], ids=["t1", "t3", "weighted"])
def test_unscored_individuals_are_never_chosen(sel: Selection) -> None:
    # The unscored have the lowest ids: a selector that treated None as best, or fell back on id order, would
    # pick them.
    pool = [Individual(0, None), Individual(1, None, children=0), Individual(2, 3.0), Individual(3, None),
            Individual(4, 3.5), Individual(5, 4.0)]
    shares = _shares(_pick(random.Random(4), pool, sel), n=5_000)
    assert set(shares) <= {2, 4, 5}
    assert None not in shares


@pytest.mark.parametrize("sel", [Selection(tournament_size=2), Selection(method="weighted")], ids=["tournament",
                                                                                                   "weighted"])
def test_the_excluded_individual_is_never_chosen(sel: Selection) -> None:
    pool = _ladder(4)
    shares = _shares(_pick(random.Random(5), pool, sel, exclude={0}), n=5_000)
    assert 0 not in shares, "the excluded one (here the best) is never chosen"
    assert max(shares, key=shares.get) == 1, "the best of the rest takes its place"
    # An exclude that matches nobody changes nothing.
    shares = _shares(_pick(random.Random(5), pool, sel, exclude={12345}), n=5_000)
    assert max(shares, key=shares.get) == 0


@pytest.mark.parametrize("sel", [Selection(), Selection(method="weighted")], ids=["tournament", "weighted"])
def test_no_scored_candidate_means_no_parent(sel: Selection) -> None:
    rng = random.Random(6)
    assert select_parent(rng, [], sel) is None
    assert select_parent(rng, [Individual(1, None), Individual(2, None)], sel) is None
    assert select_parent(rng, [Individual(1, 2.0), Individual(2, None)], sel, exclude={1}) is None
    assert select_parent(rng, [Individual(1, 2.0), Individual(2, None)], sel).id == 1


def test_selection_is_repeatable_from_the_seed() -> None:
    pool = _ladder(8)
    for sel in (Selection(), Selection(method="weighted", temperature=0.2)):
        draws_a, draws_b = random.Random(42), random.Random(42)
        a = [select_parent(draws_a, pool, sel).id for _ in range(300)]
        b = [select_parent(draws_b, pool, sel).id for _ in range(300)]
        assert a == b
        assert len(set(a)) > 1  # and still random: more than one parent over 300 draws


# --- weighted selection ------------------------------------------------------------------------------------------


def _softmax_shares(pool: list[Individual], sel: Selection) -> dict[int, float]:
    best = min(p.fitness for p in pool if p.fitness is not None)
    weights = {p.id: math.exp(-(p.fitness - best) / sel.temperature) / (1 + sel.children_penalty * p.children)
               for p in pool if p.fitness is not None}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


@pytest.mark.parametrize("temperature", [0.05, 0.1, 0.3, 1.0])
def test_weighted_selection_follows_its_temperature(temperature: float) -> None:
    pool = [Individual(0, 2.00), Individual(1, 2.05), Individual(2, 2.10), Individual(3, 2.30), Individual(4, None)]
    sel = Selection(elite=0.0, method="weighted", temperature=temperature, children_penalty=0.5)
    expected = _softmax_shares(pool, sel)
    shares = _shares(_pick(random.Random(int(temperature * 100)), pool, sel))
    _assert_close(shares, expected)
    assert max(shares, key=shares.get) == 0


def test_weighted_selection_counts_children_in_its_weights() -> None:
    pool = [Individual(0, 2.00, children=3), Individual(1, 2.02, children=0), Individual(2, 2.05, children=1),
            Individual(3, 2.10, children=6)]
    sel = Selection(elite=0.0, method="weighted", temperature=0.05, children_penalty=0.5)
    _assert_close(_shares(_pick(random.Random(7), pool, sel)), _softmax_shares(pool, sel))


def test_a_lower_temperature_concentrates_on_the_best() -> None:
    pool = [Individual(0, 2.00), Individual(1, 2.05), Individual(2, 2.10), Individual(3, 2.30)]
    best_share = {}
    for temperature in (10.0, 1.0, 0.1, 0.01):
        sel = Selection(elite=0.0, method="weighted", temperature=temperature)
        best_share[temperature] = _shares(_pick(random.Random(8), pool, sel)).get(0, 0.0)
    # expected: about 0.25, 0.28, 0.49 and 0.99
    assert best_share[10.0] < best_share[1.0] < best_share[0.1] - 0.15 < best_share[0.01] - 0.3, best_share
    assert abs(best_share[10.0] - 0.25) <= MARGIN, "a hot selection is nearly uniform"
    assert best_share[0.01] >= 0.98, "a cold selection is nearly greedy"


def test_a_parent_with_many_children_is_chosen_less_than_an_equally_fit_one_without() -> None:
    pool = [Individual(0, 2.0, children=4), Individual(1, 2.0, children=0)]
    sel = Selection(elite=0.0, method="weighted", temperature=0.1, children_penalty=0.5)
    shares = _shares(_pick(random.Random(9), pool, sel))
    # weights 1 / (1 + 0.5 * 4) = 1/3 against 1: shares 1/4 and 3/4
    _assert_close(shares, {0: 0.25, 1: 0.75})
    # With no penalty the two are chosen alike.
    free = Selection(elite=0.0, method="weighted", temperature=0.1, children_penalty=0.0)
    _assert_close(_shares(_pick(random.Random(9), pool, free)), {0: 0.5, 1: 0.5})


# --- personas ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("islands", [2, 3, 4, 5])
def test_school_mode_partitions_the_personas(islands: int) -> None:
    schools = island_personas(PERSONAS, islands, "school")
    assert len(schools) == islands
    assert all(schools), "no island stands idle"
    placed = [p for school in schools for p in school]
    assert sorted(placed) == sorted(PERSONAS), "each persona on exactly one island, and every one somewhere"
    for i, a in enumerate(schools):
        for b in schools[i + 1:]:
            assert not set(a) & set(b), f"islands share personas: {a} and {b}"
    sizes = [len(s) for s in schools]
    assert max(sizes) - min(sizes) <= 1, f"the shares are as even as they can be: {schools}"


def test_more_islands_than_personas_borrow_one_each() -> None:
    personas = PERSONAS[:3]
    schools = island_personas(personas, 7, "school")
    assert len(schools) == 7
    assert all(len(s) == 1 for s in schools), schools
    assert schools[:3] == [[p] for p in personas], "the first islands keep their own school"
    uses = Counter(s[0] for s in schools)
    assert set(uses) == set(personas), "every persona still works somewhere"
    assert max(uses.values()) - min(uses.values()) <= 1, f"the borrowing is spread evenly: {schools}"


def test_a_single_island_in_school_mode_has_every_persona() -> None:
    assert island_personas(PERSONAS, 1, "school") == [PERSONAS]


@pytest.mark.parametrize("islands", [1, 2, 4, 9])
def test_all_mode_gives_every_island_every_persona(islands: int) -> None:
    schools = island_personas(PERSONAS, islands, "all")
    assert schools == [PERSONAS] * islands
    schools[0].append("intruder")  # each island has its own list
    assert all(s == PERSONAS for s in schools[1:]) and PERSONAS[-1] == "noether"


def test_an_untried_persona_is_always_chosen_first() -> None:
    rng = random.Random(11)
    record = {"newton": (40, 30), "curie": (5, 5), "turing": (0, 0)}  # hopper and noether: absent, so untried
    for method_exploration in (1.0, 0.0, 100.0):
        picks = {choose_persona(rng, PERSONAS, record, "bandit", method_exploration) for _ in range(2_000)}
        assert picks == {"turing", "hopper", "noether"}, picks
    shares = _shares(lambda: choose_persona(rng, PERSONAS, record, "bandit", 1.0), n=6_000)
    _assert_close(shares, {"turing": 1 / 3, "hopper": 1 / 3, "noether": 1 / 3}, margin=0.03)


def test_an_under_tried_persona_with_the_same_win_rate_is_chosen_over_a_heavily_tried_one() -> None:
    rng = random.Random(12)
    personas = ["newton", "curie"]
    record = {"newton": (100, 50), "curie": (4, 2)}  # both win half the time
    picks = Counter(choose_persona(rng, personas, record, "bandit", 1.0) for _ in range(2_000))
    assert picks == {"curie": 2_000}, picks


def test_exploration_can_outweigh_a_better_win_rate() -> None:
    rng = random.Random(13)
    personas = ["newton", "curie"]
    record = {"newton": (50, 40), "curie": (5, 0)}
    # UCB1: newton 0.8 + 2 sqrt(ln 55 / 50) ~ 1.37; curie 0 + 2 sqrt(ln 55 / 5) ~ 1.79
    assert {choose_persona(rng, personas, record, "bandit", 2.0) for _ in range(500)} == {"curie"}
    # A little exploration does not: newton 0.8 + 0.1 * 0.28 against curie 0 + 0.1 * 0.90
    assert {choose_persona(rng, personas, record, "bandit", 0.1) for _ in range(500)} == {"newton"}


def test_without_exploration_the_bandit_takes_the_best_win_rate() -> None:
    rng = random.Random(14)
    record = {"newton": (100, 60), "curie": (4, 2), "turing": (10, 5), "hopper": (1, 0), "noether": (30, 17)}
    assert {choose_persona(rng, PERSONAS, record, "bandit", 0.0) for _ in range(1_000)} == {"newton"}


def test_the_bandit_splits_exact_ties_at_random() -> None:
    rng = random.Random(15)
    record = {p: (10, 3) for p in PERSONAS}
    shares = _shares(lambda: choose_persona(rng, PERSONAS, record, "bandit", 1.0))
    _assert_close(shares, {p: 1 / len(PERSONAS) for p in PERSONAS})


def test_uniform_persona_choice_is_uniform_whatever_the_record() -> None:
    rng = random.Random(16)
    record = {"newton": (100, 90), "curie": (1, 0)}  # turing, hopper, noether untried: uniform ignores all that
    shares = _shares(lambda: choose_persona(rng, PERSONAS, record, "uniform", 1.0))
    _assert_close(shares, {p: 1 / len(PERSONAS) for p in PERSONAS})


# --- migration ---------------------------------------------------------------------------------------------------


def test_migrants_are_the_top_k_scored_ids_best_first() -> None:
    pool = [Individual(5, 3.0), Individual(1, None), Individual(8, 1.0), Individual(2, 2.0), Individual(6, None),
            Individual(3, 1.5)]
    assert migrants(pool, 1) == [8]
    assert migrants(pool, 3) == [8, 3, 2]
    assert migrants(pool, 10) == [8, 3, 2, 5], "only the scored migrate, however many are asked for"
    assert migrants([Individual(1, None)], 2) == []
    assert migrants([], 1) == []
    assert migrants([Individual(9, 1.0), Individual(4, 1.0)], 1) == [4], "a tie goes to the older id"


def test_the_ring_wraps() -> None:
    assert [ring_target(i, 4) for i in range(4)] == [1, 2, 3, 0]
    assert ring_target(0, 1) == 0
    assert ring_target(1, 2) == 0


# --- operators ---------------------------------------------------------------------------------------------------


def test_operators_follow_their_weights() -> None:
    rng = random.Random(17)
    shares = _shares(lambda: choose_operator(rng, Operators(mutate=0.6, crossover=0.3, repair=0.1), True, True))
    _assert_close(shares, {"mutate": 0.6, "crossover": 0.3, "repair": 0.1})
    shares = _shares(lambda: choose_operator(rng, Operators(mutate=1, crossover=2, repair=1), True, True))
    _assert_close(shares, {"mutate": 0.25, "crossover": 0.5, "repair": 0.25})


def test_no_crossover_without_a_second_parent_and_no_repair_without_a_failure() -> None:
    rng = random.Random(18)
    mix = Operators(mutate=0.5, crossover=0.3, repair=0.2)
    shares = _shares(lambda: choose_operator(rng, mix, False, True))
    _assert_close(shares, {"mutate": 0.5 / 0.7, "repair": 0.2 / 0.7})
    shares = _shares(lambda: choose_operator(rng, mix, True, False))
    _assert_close(shares, {"mutate": 0.5 / 0.8, "crossover": 0.3 / 0.8})
    assert {choose_operator(rng, mix, False, False) for _ in range(1_000)} == {"mutate"}


def test_mutate_is_the_fallback_when_no_weighted_operator_is_possible() -> None:
    rng = random.Random(19)
    assert {choose_operator(rng, Operators(mutate=0, crossover=1, repair=0), False, True) for _ in range(200)} == {
        "mutate"}
    assert {choose_operator(rng, Operators(mutate=0, crossover=0, repair=1), True, False) for _ in range(200)} == {
        "mutate"}
    # A zero weight is never drawn when something else is possible.
    assert {choose_operator(rng, Operators(mutate=0, crossover=1, repair=1), True, True)
            for _ in range(2_000)} == {"crossover", "repair"}
