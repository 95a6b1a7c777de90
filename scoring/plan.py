"""The final evaluation's plan: which windows the trusted referee sends after train() returns, and how it
reads the answers. Pure functions on arrays; the referee (scoring/referee.py) runs them.

- Fitness windows: from the fitness part of the validation split (scoring/data.py: a different document
  from the part the candidate's own monitoring, `estimate_loss`, is shown), disjoint from each other,
  drawn by a fixed generator: the same windows for every candidate and every seed, never sent before
  the final evaluation.
- Test windows: the same way from the held-out split, which no other message ever carries.
- Probe rows, shuffled in among them at the evaluation's exact batch shape: *splices* (a fitness or test
  window whose tokens after a cut are replaced by another window's) and *repeats* (an exact copy of one).
  A causal model that does not learn while it is evaluated gives a splice the same log-probabilities as
  its original up to the cut, and a repeat the same everywhere.
- Two sides: the rows are answered by two fresh processes started from the same snapshot of the trained
  model (scoring/evaluator.py), and every probe is answered by the other process than its partner. A
  process that remembers or learns from the rows it answered holds nothing of the partner's.
- The last position of every window predicts a token that is in no window sent: its loss cannot have
  leaked, so a model with a band of earlier positions far better than its last one is flagged as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The fitness and test windows are fixed (the same for every candidate: comparable). The probe rows, their
# cuts, the sending order and the compared columns are drawn from a seed the referee makes fresh for each
# evaluation (`secret`): fixed ones can be computed from this file, and a leak that skips exactly the
# probed positions passes them (a red-team attack did). PROBE_SALT and COLUMN_SALT serve the tests.
FITNESS_SALT, TEST_SALT, PROBE_SALT = 20261201, 20261202, 20261203
PROBE_TOLERANCE = 2e-3  # nats of log-probability: float32 noise is ~1e-5, a leak that pays is ~0.1 and up
REPEAT_SHARE = 0.25  # of the probe rows; the rest are splices
LAST_POSITION_MARGIN = 0.25  # nats: how much worse the unleakable last position may be than the rest
FITNESS, TEST, SPLICE, REPEAT = 0, 1, 2, 3
PROBE_COLUMNS = 256  # vocabulary ids compared in every probe pair, beside each position's next tokens
COLUMN_SALT = 20261204


@dataclass(frozen=True)
class Plan:
    x: np.ndarray  # (N, T) int64 inputs, N a multiple of the batch size, already in sending order
    y: np.ndarray  # (N, T) int64 targets (of the original window for probe rows; unused for them)
    role: np.ndarray  # (N,) FITNESS / TEST / SPLICE / REPEAT
    partner: np.ndarray  # (N,) for probe rows the row they are compared with, else -1
    cut: np.ndarray  # (N,) for splices the last position that must agree, for repeats T-1, else -1
    batch: int
    source: np.ndarray  # (N,) each row's place before the shuffle: fitness and test rows are summed in it
    side_rows: int  # rows [0, side_rows) are answered by the first fresh process, the rest by the second

    def batches(self, side: int | None = None):
        """(first row, inputs) of each batch in sending order: all of them, or one side's (one process's)."""
        lo, hi = {None: (0, len(self.x)), 0: (0, self.side_rows), 1: (self.side_rows, len(self.x))}[side]
        for i in range(lo, hi, self.batch):
            yield i, self.x[i : i + self.batch]

    @property
    def side(self) -> np.ndarray:
        """(N,) which fresh process answers each row."""
        return (np.arange(len(self.x)) >= self.side_rows).astype(np.int64)


def disjoint_windows(length: int, n: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """`n` offsets of windows [o, o + width) in 0..length that do not overlap each other."""
    covered = np.zeros(length, dtype=bool)
    chosen: list[int] = []
    tries = 0
    while len(chosen) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise ValueError(f"cannot place {n} disjoint windows of {width} tokens in a split of {length}")
        o = int(rng.integers(0, length - width + 1))
        if not covered[o : o + width].any():
            covered[o : o + width] = True
            chosen.append(o)
    return np.array(chosen, dtype=np.int64)


def _windows(data: np.ndarray, offsets: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.stack([np.asarray(data[o : o + T + 1], dtype=np.int64) for o in offsets])
    return rows[:, :T], rows[:, 1:]


def probes_per_side(n: int, B: int) -> int:
    """Probe rows each process answers: about a quarter of its windows, in whole batches, at least one."""
    return B * max(1, round(n / (4 * B)))


def _probe(x: np.ndarray, role: np.ndarray, i: int, m: int, repeats: int, others: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """The m-th probe row of a side, made from window i of the other side: (row, kind, cut)."""
    T = x.shape[1]
    if m < repeats:
        return x[i].copy(), REPEAT, T - 1
    s = m - repeats
    # cuts at both ends every time, the rest anywhere: position 0 and T-2 are where leaks hide best
    c = (0, T - 2)[s] if s < 2 else int(rng.integers(0, T - 1))
    donors = others[(role[others] == role[i]) & (x[others, c + 1] != x[i, c + 1])]
    j = int(rng.choice(donors)) if len(donors) else int(others[others != i][0])
    return np.concatenate([x[i, : c + 1], x[j, c + 1 :]]), SPLICE, c


def build(val: np.ndarray, test: np.ndarray, T: int, B: int, n_batches: int, secret: int | None = None) -> Plan:
    """The plan for windows of T tokens sent B at a time, with n_batches batches each of fitness and test;
    the sides, the probes and the order drawn from `secret` (the referee's fresh seed; PROBE_SALT without).

    `val` is the fitness part of the validation split only (scoring/data.py keeps the monitoring windows in
    the other part). Each side (one fresh process) answers half of the windows, and probe rows made from
    the OTHER side's windows, at most one per window, their splices' tails taken from that side too: no row
    a process answers shares a prefix or a tail with another row of the same process, so whatever a process
    remembers or learns from its own rows cannot make a probe agree with its partner."""
    n = n_batches * B
    fx, fy = _windows(val, disjoint_windows(len(val), n, T + 1, np.random.default_rng(FITNESS_SALT)), T)
    tx, ty = _windows(test, disjoint_windows(len(test), n, T + 1, np.random.default_rng(TEST_SALT)), T)
    x, y = np.concatenate([fx, tx]), np.concatenate([fy, ty])
    role = np.array([FITNESS] * n + [TEST] * n)
    rng = np.random.default_rng(PROBE_SALT if secret is None else secret)
    halves = np.split(rng.permutation(2 * n), 2)  # the windows each side answers
    k = probes_per_side(n, B)
    repeats = max(1, int(k * REPEAT_SHARE))
    rows, partner, cut, kinds, side = [], [], [], [], []
    for s in (0, 1):
        others = halves[1 - s]
        for m, i in enumerate(rng.choice(others, k, replace=False).tolist()):
            row, kind, c = _probe(x, role, i, m, repeats, others, rng)
            rows.append(row)
            kinds.append(kind)
            cut.append(c)
            partner.append(i)
            side.append(s)
    x = np.concatenate([x, np.stack(rows)])
    y = np.concatenate([y, y[partner]])
    role = np.concatenate([role, kinds])
    partner = np.array([-1] * (2 * n) + partner)
    cut = np.array([-1] * (2 * n) + cut)
    side_of = np.concatenate([np.zeros(2 * n, np.int64), side])
    side_of[halves[1]] = 1
    order = np.concatenate([rng.permutation(np.flatnonzero(side_of == s)) for s in (0, 1)])
    where = np.empty_like(order)
    where[order] = np.arange(len(order))
    partner = np.where(partner >= 0, where[np.maximum(partner, 0)], -1)
    return Plan(x[order], y[order], role[order], partner[order], cut[order], B, order, n + k)


@dataclass(frozen=True)
class Reading:
    fitness: float
    test: float
    probe_max_delta: float  # largest log-probability difference over every probe row
    problem: str | None  # why the answers show a leak or state, or None
    problem_kind: str | None  # "causal" or "state"


class Reader:
    """Reads the final evaluation batch by batch, in memory that does not grow with the vocabulary's size
    times the rows. It says which logits to ask for at each position (`ids`, scoring/logits.py sends them)
    and keeps, per row, the loss at each position; for the rows of a probe pair, only the log-probabilities
    the comparison needs, at each position up to the cut:

    - the next token of each row of the pair (the token after that position in the row, or its target at
      the last position): any leak that pays raises the probability of a token it has not yet been given,
      and for a splice those differ between the rows exactly where the later tokens were replaced;
    - a subset of PROBE_COLUMNS vocabulary ids (drawn from the evaluation's secret seed), for any other
      dependence on later tokens.

    Every row is asked for the same columns in the same layout (its target, its next token, its mate's next
    token, the subset), so the answering process cannot tell a probe row from a window by what it is asked.
    With a vocabulary of at most PROBE_COLUMNS every id is compared, as a whole-array reading would.
    """

    def __init__(self, plan: Plan, vocab: int, secret: int | None = None):
        self.plan, self.vocab = plan, vocab
        n, T = plan.x.shape
        self.nll = np.zeros((n, T))
        self.seen = np.zeros(n, dtype=bool)
        rng = np.random.default_rng(COLUMN_SALT if secret is None else secret)
        self.columns = np.arange(vocab) if vocab <= PROBE_COLUMNS else \
            np.sort(rng.choice(vocab, PROBE_COLUMNS, replace=False))
        self.nxt = np.concatenate([plan.x[:, 1:], plan.y[:, -1:]], axis=1)  # (N, T) the token after each position
        self.pairs = [(int(r), int(plan.partner[r]), int(plan.cut[r])) for r in np.flatnonzero(plan.partner >= 0)]
        self.mate = np.arange(n)  # a probe row's partner, a partner's probe row, else the row itself
        self.pair_of: dict[int, int] = {}  # row -> its pair's index
        for k, (r, p, _) in enumerate(self.pairs):
            self.mate[r], self.mate[p] = p, r
            self.pair_of[r] = self.pair_of[p] = k
        self.kept: dict[tuple[int, int], np.ndarray] = {}  # (pair index, row) -> (cut + 1, columns + 2)

    def ids(self, first: int, n: int) -> np.ndarray:
        """(n, T, 3 + columns) vocabulary ids to ask for at each position of rows first .. first + n - 1."""
        rows = np.arange(first, first + n)
        T = self.plan.x.shape[1]
        cols = np.broadcast_to(self.columns, (n, T, len(self.columns)))
        own = np.stack([self.plan.y[rows], self.nxt[rows], self.nxt[self.mate[rows]]], axis=2)
        return np.ascontiguousarray(np.concatenate([own, cols], axis=2), dtype=np.int64)

    def add(self, first: int, lse: np.ndarray, values: np.ndarray) -> None:
        """Rows first .. first + len(lse) - 1 (in sending order): each position's log-sum-exp (rows, T) and
        the logits at `ids` (rows, T, K)."""
        n = len(lse)
        logp = values - lse[:, :, None]
        self.nll[first : first + n] = -logp[:, :, 0]
        self.seen[first : first + n] = True
        for i in range(n):
            row = first + i
            if row not in self.pair_of:
                continue
            k = self.pair_of[row]
            r, _, c = self.pairs[k]
            upto = logp[i, : c + 1]
            own = upto[:, [1, 2]] if row == r else upto[:, [2, 1]]  # (next of the probe, next of its partner)
            self.kept[(k, row)] = np.concatenate([upto[:, 3:], own], axis=1)

    @property
    def kept_bytes(self) -> int:
        return sum(a.nbytes for a in self.kept.values()) + self.nll.nbytes

    def reading(self) -> Reading:
        plan, T = self.plan, self.plan.x.shape[1]
        if not self.seen.all():
            raise ValueError("the final evaluation is incomplete: some rows were never read")
        # summed in the windows' fixed order, not the secret sending order: the same model, the same loss,
        # to the last bit, whatever order this evaluation drew
        fixed = np.argsort(plan.source, kind="stable")
        fitness = float(self.nll[fixed][plan.role[fixed] == FITNESS].mean())
        test = float(self.nll[fixed][plan.role[fixed] == TEST].mean())
        worst, problem, kind = 0.0, None, None
        # splices before repeats: with probes drawn afresh each time, the verdict's kind must not depend on
        # which failing pair came first (a model that changes while evaluated fails both kinds)
        by_kind = sorted(range(len(self.pairs)), key=lambda k: (plan.role[self.pairs[k][0]] == REPEAT, k))
        for k in by_kind:
            r, p, c = self.pairs[k]
            deltas = np.abs(self.kept[(k, r)] - self.kept[(k, p)]).max(axis=-1)
            d = float(deltas.max())
            worst = max(worst, d)
            if problem is None and not d <= PROBE_TOLERANCE:
                at = int(np.argmax(deltas))
                if plan.role[r] == REPEAT:
                    problem, kind = (f"the same window, sent twice, got log-probabilities {d:.3g} apart at position "
                                     f"{at}: the model changed or kept state while it was evaluated"), "state"
                else:
                    problem, kind = (f"log-probabilities at position {at} changed by {d:.3g} when only tokens after "
                                     f"position {c} changed"), "causal"
        # fitness and test rows apart: pooled, rows made far worse in one split (cheap: say, the test rows
        # a model tells apart by their speakers) would hide a leak in the other (a red-team attack did)
        for role, name in ((FITNESS, "fitness"), (TEST, "test")):
            if problem is None and T >= 4:
                problem, kind = _last_position_check(self.nll[plan.role == role], name)
        return Reading(fitness, test, worst, problem, kind)


def read(plan: Plan, logp: np.ndarray) -> Reading:
    """The reading of every row's logits (or log-softmax) at once, (N, T, V)."""
    reader = Reader(plan, logp.shape[-1])
    ids = reader.ids(0, len(logp))
    reader.add(0, np.logaddexp.reduce(logp, axis=-1), np.take_along_axis(logp, ids, axis=2))
    return reader.reading()


def _last_position_check(nll: np.ndarray, split: str) -> tuple[str | None, str | None]:
    """The last position's target is in no input, so its loss cannot have leaked. With more context than
    any other position it is, for a causal model, about as good as the best of them; a band of positions
    whose loss is far below it has seen its targets. Bands of T/8 positions, each compared with a margin
    plus three standard errors of the paired difference (per row: last minus the band's mean), over the rows
    of one split (`split`, for the reason)."""
    T = nll.shape[1]
    width = max(1, (T - 1) // 8)
    for a in range(0, T - 1, width):
        b = min(a + width, T - 1)
        gap = nll[:, T - 1] - nll[:, a:b].mean(axis=1)
        bound = LAST_POSITION_MARGIN + 3 * float(gap.std()) / np.sqrt(len(gap))
        if float(gap.mean()) > bound:
            why = (f"on the {split} windows, the last position, whose target no input holds, has a loss "
                   f"{gap.mean():.3f} higher than positions {a}..{b - 1} (at most {bound:.3f} without a leak)")
            return why, "causal"
    return None, None
