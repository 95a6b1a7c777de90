"""The final evaluation's plan and its reading, on hand-made data: no training, no processes."""

from __future__ import annotations

import numpy as np
import pytest

from scoring import plan

T, B, V = 16, 8, 11


def _data(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, n).astype(np.uint16)


def _plan(n_batches: int = 2) -> tuple[plan.Plan, np.ndarray, np.ndarray]:
    val, test = _data(5000, 1), _data(5000, 2)
    return plan.build(val, test, T, B, n_batches), val, test


def _offset(data: np.ndarray, row: np.ndarray) -> int:
    hay, needle = data.astype(np.int64).tobytes(), row.astype(np.int64).tobytes()
    at = hay.find(needle)
    while at % 8:
        at = hay.find(needle, at + 1)
    return at // 8


def test_fitness_windows_are_disjoint_from_each_other():
    p, val, _ = _plan()
    fitness = p.x[p.role == plan.FITNESS]
    spans = sorted((o, o + T + 1) for o in (_offset(val, row) for row in fitness))
    assert len(spans) == 2 * B and all(b <= a2 for (_, b), (a2, _) in zip(spans, spans[1:], strict=False))


def test_probe_partners_are_never_answered_by_the_same_process():
    """Each side is one fresh process. A probe's partner is on the other side, and no row of a side shares
    a prefix (or a splice's tail) with another row of that side, so a memo of the rows a process answered,
    or what it learns from them, holds nothing that could make a probe agree with its partner."""
    for secret in range(5):
        p = plan.build(*_plan()[1:], T, B, 2, secret)
        probes = np.flatnonzero(p.partner >= 0)
        assert len(probes) == 2 * plan.probes_per_side(2 * B, B)
        assert (p.side[probes] != p.side[p.partner[probes]]).all()
        assert p.side_rows % B == 0 and (len(p.x) - p.side_rows) % B == 0
        assert len(set(p.partner[probes].tolist())) == len(probes)  # one probe per window at most
        for s in (0, 1):
            rows = p.x[p.side == s]
            heads = {r[:6].tobytes() for r in rows}  # random text: no two rows of a side start alike
            assert len(heads) == len(rows)
        for r in probes[p.cut[probes] >= 5]:  # (shorter prefixes can coincide by chance in any text)
            # nothing on the probe's side holds the partner's prefix with the partner's next token
            c, mine = int(p.cut[r]), p.side == p.side[r]
            upto = min(c + 2, T)
            same = (p.x[:, :upto] == p.x[p.partner[r], :upto]).all(axis=1) & mine
            same[r] = False
            assert not same.any()
        sides = [list(p.batches(s)) for s in (0, 1)]
        assert sum(len(b) for b in sides) == len(list(p.batches()))
        assert all(first < p.side_rows for first, _ in sides[0]) and all(first >= p.side_rows for first, _ in sides[1])


def test_the_plan_is_the_same_every_time_and_every_batch_is_full():
    a, _, _ = _plan()
    b, _, _ = _plan()
    assert np.array_equal(a.x, b.x) and np.array_equal(a.role, b.role)
    assert len(a.x) % B == 0 and all(len(xb) == B for _, xb in a.batches())
    roles = set(a.role.tolist())
    assert roles == {plan.FITNESS, plan.TEST, plan.SPLICE, plan.REPEAT}
    # probes share their partner's prefix up to the cut, and are mixed in, not appended
    for r in np.flatnonzero(a.partner >= 0):
        c = a.cut[r]
        assert np.array_equal(a.x[r, : c + 1], a.x[a.partner[r], : c + 1])
    assert np.flatnonzero(a.partner >= 0).min() < len(a.x) - np.sum(a.partner >= 0)


def _causal_logp(x: np.ndarray) -> np.ndarray:
    """A causal 'model': position t's distribution depends on tokens 0..t only (a bigram on x[t])."""
    table = np.log(np.random.default_rng(5).dirichlet(np.ones(V), V))
    return table[x]


def test_a_causal_model_passes_and_its_losses_are_read_from_the_right_rows():
    p, _, _ = _plan()
    logp = _causal_logp(p.x)
    r = plan.read(p, logp)
    assert r.problem is None and r.probe_max_delta == 0.0
    nll = -np.take_along_axis(logp, p.y[:, :, None], 2)[:, :, 0]
    fixed = np.argsort(p.source)  # the windows' own order, before the shuffle
    assert r.fitness == nll[fixed][p.role[fixed] == plan.FITNESS].mean()
    assert r.test == nll[fixed][p.role[fixed] == plan.TEST].mean()


def test_the_same_model_gets_the_same_loss_to_the_last_bit_whatever_order_the_secret_drew():
    _, val, test = _plan()
    readings = []
    for secret in (1, 2, 3, 4):
        p = plan.build(val, test, T, B, 2, secret)
        readings.append(plan.read(p, _causal_logp(p.x)))
    assert len({(r.fitness, r.test) for r in readings}) == 1


def test_a_model_that_sees_the_next_token_is_a_causal_leak():
    p, _, _ = _plan()
    peek = np.concatenate([p.x[:, 1:], p.x[:, -1:]], axis=1)  # position t looks at token t+1
    logp = np.log(np.full((len(p.x), T, V), 0.01 / (V - 1)))
    np.put_along_axis(logp, peek[:, :, None], np.log(0.99), axis=2)
    r = plan.read(p, logp)
    assert r.problem_kind == "causal" and "when only tokens after" in r.problem


def test_a_window_answered_differently_the_second_time_is_state():
    p, _, _ = _plan()
    changed = _causal_logp(p.x)
    changed[np.flatnonzero(p.role == plan.REPEAT)[0]] += np.log(1.5) * np.eye(V)[0]  # only the repeat moves
    changed = changed - np.log(np.exp(changed).sum(-1, keepdims=True))
    r = plan.read(p, changed)
    assert r.problem_kind == "state" and "sent twice" in r.problem


def test_earlier_positions_far_better_than_the_unleakable_last_one_are_flagged():
    p, _, _ = _plan(n_batches=4)
    logp = _causal_logp(p.x)
    # a model that is (somehow) sure of every target except at the last position, and consistent on probes
    sure = np.log(np.full((len(p.x), T, V), 0.01 / (V - 1)))
    np.put_along_axis(sure, p.y[:, :, None], np.log(0.99), axis=2)
    sure[:, T - 1] = logp[:, T - 1]
    for r in np.flatnonzero(p.partner >= 0):  # answer probes like their partners: the pair-aware leak
        sure[r] = sure[p.partner[r]]
    r = plan.read(p, sure)
    assert r.problem_kind == "causal" and "last position" in r.problem


def test_a_large_vocabulary_is_read_in_bounded_memory_and_leaks_still_show():
    """Past PROBE_COLUMNS ids the reader keeps, for probe pairs only, a subset of columns plus each
    position's next tokens: the losses are exactly the whole-array ones, and a leak that pays still shows."""
    big = 3000
    rng = np.random.default_rng(3)
    subset = np.sort(np.random.default_rng(plan.COLUMN_SALT).choice(big, plan.PROBE_COLUMNS, replace=False))
    outside = np.setdiff1d(np.arange(big), subset)  # the data holds no id of the fixed subset: only the
    val, test = (rng.choice(outside, 5000).astype(np.uint16) for _ in range(2))  # next tokens can show a leak
    p = plan.build(val, test, T, B, 2)
    table = np.log(np.random.default_rng(5).dirichlet(np.ones(big), 64))  # a causal bigram on x[t] % 64
    causal = table[p.x % 64]
    reader = plan.Reader(p, big)
    for i in range(0, len(p.x), B):  # batch by batch, as the referee reads: two numbers a position and the ids asked
        batch = causal[i : i + B]
        reader.add(i, np.logaddexp.reduce(batch, axis=-1), np.take_along_axis(batch, reader.ids(i, len(batch)), 2))
    r = reader.reading()
    nll = -np.take_along_axis(causal, p.y[:, :, None], 2)[:, :, 0]
    assert r.problem is None and r.probe_max_delta == 0.0
    fixed = np.argsort(p.source)  # the reading sums in the windows' own order
    # the loss is now the log-sum-exp minus the target's logit: equal to the log-softmax reading up to float64 rounding
    assert r.fitness == pytest.approx(nll[fixed][p.role[fixed] == plan.FITNESS].mean(), abs=1e-12)
    assert r.test == pytest.approx(nll[fixed][p.role[fixed] == plan.TEST].mean(), abs=1e-12)
    assert reader.kept_bytes < causal.nbytes / 5  # the whole-array reading held all of it
    assert np.array_equal(reader.columns, subset)
    # a model that peeks at the next token, which is never in the subset
    peek = np.concatenate([p.x[:, 1:], p.x[:, -1:]], axis=1)
    leaky = np.log(np.full((len(p.x), T, big), 0.01 / (big - 1)))
    np.put_along_axis(leaky, peek[:, :, None], np.log(0.99), axis=2)
    assert not np.isin(peek, reader.columns).any()
    r = plan.read(p, leaky)
    assert r.problem_kind == "causal" and "when only tokens after" in r.problem


def _plan_aware_leak(sent: plan.Plan, predicted: plan.Plan) -> np.ndarray:
    """A model that leaks the next token at every position except where `predicted` (the plan it computed
    from this file's constants) says a probe pair is compared: rows it believes are probes or their
    partners get causal answers up to their cut. Rows are told apart only by their place in the sending
    order, which is all such a model sees."""
    logp = _causal_logp(sent.x)
    peek = np.concatenate([sent.x[:, 1:], sent.x[:, -1:]], axis=1)
    guarded = np.full(len(sent.x), -1)
    for r in np.flatnonzero(predicted.partner >= 0):
        for row in (r, predicted.partner[r]):
            guarded[row] = max(guarded[row], predicted.cut[r])
    for i in range(len(sent.x)):
        for t in range(guarded[i] + 1, T - 1):  # leak only past the positions it believes are compared
            logp[i, t] = np.log(np.full(V, 0.01 / (V - 1)))
            logp[i, t, peek[i, t]] = np.log(0.99)
    return logp


def test_probes_drawn_from_a_secret_catch_a_leak_that_knows_the_fixed_plan():
    """The attack a red team ran: compute the probe plan from the public salt, leak everywhere it is not
    compared. Against probes drawn from the evaluation's secret seed it is caught; the fitness windows
    stay the same for every seed, so fitness stays comparable."""
    val, test = _data(5000, 1), _data(5000, 2)
    public = plan.build(val, test, T, B, 2)
    fooled = plan.read(public, _plan_aware_leak(public, public))
    assert fooled.probe_max_delta <= plan.PROBE_TOLERANCE  # every probe pair agrees: only the statistical
    assert fooled.problem is None or "last position" in fooled.problem  # last-position check could see it
    secret = plan.build(val, test, T, B, 2, secret=12345)
    caught = plan.read(secret, _plan_aware_leak(secret, public))
    assert caught.problem_kind == "causal" and "when only tokens after" in caught.problem

    def windows(p: plan.Plan, role: int) -> set[bytes]:
        return {row.tobytes() for row in p.x[p.role == role]}

    for role in (plan.FITNESS, plan.TEST):
        assert windows(public, role) == windows(secret, role)
    assert not np.array_equal(public.role, secret.role)  # the order and the probes are not


def test_a_leak_on_the_fitness_rows_is_not_hidden_by_test_rows_made_worse():
    """The red team's trade: the fitness rows leak (sure of every target but the last), and the test rows, which
    a model can tell apart by their text, are made far worse everywhere but the last position. Pooled, the
    test rows' negative gaps pulled the mean under the bound and passed it; each split is checked alone."""
    p, _, _ = _plan(n_batches=4)
    logp = _causal_logp(p.x)
    cheat = logp.copy()
    fit, tst = p.role == plan.FITNESS, p.role == plan.TEST
    sure = np.log(np.full((int(fit.sum()), T, V), 0.01 / (V - 1)))
    np.put_along_axis(sure, p.y[fit][:, :, None], np.log(0.99), axis=2)
    sure[:, T - 1] = logp[fit][:, T - 1]
    cheat[fit] = sure
    wrong = np.log(np.full((int(tst.sum()), T - 1, V), 1 / (V - 1)))  # a sacrifice: 100 nats everywhere but the last
    np.put_along_axis(wrong, p.y[tst][:, : T - 1, None], -100.0, axis=2)
    cheat[tst, : T - 1] = wrong
    for r in np.flatnonzero(p.partner >= 0):  # probes answered like their partners
        cheat[r] = cheat[p.partner[r]]
    r = plan.read(p, cheat)
    assert r.problem_kind == "causal" and "on the fitness windows, the last position" in r.problem, r.problem
