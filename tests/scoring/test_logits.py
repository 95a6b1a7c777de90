"""The logits exchange (scoring/logits.py): two numbers a position on the wire, bound by a commitment and
audited. The referee's side (`fetch`) runs here against an honest answering side and against liars, over a
real socket pair, the answering side in a thread.

The bound each liar test checks: a batch of B rows of T positions gets AUDITS_PER_ROW * B audited positions,
drawn after the commitment; a liar that alters a share f of positions escapes one batch with probability at
most (1 - f) ** (AUDITS_PER_ROW * B). The audit generator is seeded here, so each test is deterministic; the
shares are chosen so that the bound is small whatever the seed (stated in each test).
"""

from __future__ import annotations

import hashlib
import socket
import threading

import numpy as np
import pytest
import torch

from scoring import logits, wire

B, T, V = 4, 64, 300
AUDITED = logits.AUDITS_PER_ROW * B  # positions audited per batch


def _model_logits(x: np.ndarray) -> torch.Tensor:
    """A deterministic stand-in model: logits from a fixed table on the current token."""
    table = torch.from_numpy(np.random.default_rng(0).normal(0, 2, (V, V)).astype(np.float32))
    return table[torch.from_numpy(x)]


def _honest(sock, header, x):
    logits.answer(sock, header, x, _model_logits(x))


def _serve(sock: socket.socket, answer) -> None:
    try:
        while True:
            header, arrays = wire.recv(sock)
            if header["kind"] != "forward":
                return
            answer(sock, header, arrays[0])
    except (wire.Closed, OSError):
        pass


def _ask(answer, batches: int = 1, targets: bool = True, seed: int = 7):
    """fetch() `batches` batches from an answering side; returns the answers or raises what fetch raised."""
    ref, cand = socket.socketpair()
    t = threading.Thread(target=_serve, args=(cand, answer), daemon=True)
    t.start()
    rng = np.random.default_rng(seed)
    data = np.random.default_rng(1)
    out = []
    try:
        for _ in range(batches):
            x = data.integers(0, V, (B, T))
            ids = data.integers(0, V, (B, T, 1)) if targets else None
            out.append((x, ids, logits.fetch(ref, x, V, ids, logits.audit_rng(int(rng.integers(1 << 30))))))
    finally:
        ref.close()
        t.join(5)
        cand.close()
    return out


def _commitment(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What an honest process commits for logits z: the largest logit, the log-sum above it, the digests."""
    top = z.max(axis=-1)
    above = np.log(np.exp(z.astype(np.float64) - top[..., None]).sum(axis=-1)).astype(np.float32)
    digests = np.frombuffer(b"".join(hashlib.sha256(r.tobytes()).digest() for r in z.reshape(-1, z.shape[-1])),
                            np.uint8).reshape(*z.shape[:-1], 32)
    return top, above, digests


def _lying_answer(alter, offset: float = 0.0):
    """An answering side that commits to its true rows (their digests) but sends `alter(above, gathered)`
    instead of the true log-sums above the largest logit and the gathered logits, and answers audits with the
    true rows. `offset` is added to every logit (the softmax is the same)."""
    def answer(sock, header, x):
        z = (_model_logits(x) + offset).numpy()
        top, above, digests = _commitment(z)
        wire.send(sock, "committed", (top, alter(above, None), digests))
        _, arrays = wire.recv(sock)
        gathered = np.take_along_axis(z, arrays[0], axis=2)
        wire.send(sock, "gathered", (alter(None, gathered),))
        _, arrays = wire.recv(sock)
        wire.send(sock, "rows", (z[arrays[0][:, 0], arrays[0][:, 1]],))
    return answer


def _honest_with(offset: float):
    return _lying_answer(lambda above, gathered: above if gathered is None else gathered, offset)


def test_an_honest_answer_is_the_loss_from_the_whole_logits():
    (x, ids, got), = _ask(_honest)
    z = _model_logits(x).double().numpy()
    exact = np.logaddexp.reduce(z, axis=-1)
    assert np.abs(got.lse - exact).max() < 1e-5  # float32 log-sum-exp against float64
    assert np.array_equal(got.values, np.take_along_axis(z, ids, axis=2))
    nll, whole = (got.lse - got.values[:, :, 0]).mean(), -np.take_along_axis(
        torch.log_softmax(torch.from_numpy(z), -1).numpy(), ids, 2).mean()
    assert abs(nll - whole) < 1e-6


def test_the_wire_carries_per_position_figures_not_the_vocabulary():
    """What crosses per batch, counted on the socket, against one batch of whole logits."""
    sent = {"n": 0}
    real = wire.send

    def counting(sock, kind, arrays=(), **fields):
        sent["n"] += sum(np.asarray(a).nbytes for a in arrays)
        real(sock, kind, arrays, **fields)

    wire.send = counting
    try:
        _ask(_honest)
    finally:
        wire.send = real
    whole = B * T * V * 4
    per_position = 8 + 4 + 4 + 32 + 8 + 4  # x, largest logit, log-sum above it, digest, one target id, its logit
    assert sent["n"] == B * T * per_position + AUDITED * (16 + V * 4)
    assert sent["n"] < whole / 2  # at V = 300 already; at GPT-2's 50,304 it is ~1/100 (BENCHMARKS.md)


def test_whole_logits_when_asked_for_all_are_the_models_and_audited():
    (x, _, got), = _ask(_honest, targets=False)
    assert np.array_equal(got.values, _model_logits(x).double().numpy())


def test_a_small_shade_of_the_log_sum_exp_everywhere_is_caught():
    """f = 1: the first audited position catches it (1e-3 nats is 10x the tolerance)."""
    def shade(above, gathered):
        return above - 1e-3 if above is not None else gathered

    with pytest.raises(logits.Lied, match="log-sum-exp committed"):
        _ask(_lying_answer(shade))


def test_a_shade_below_the_tolerance_gains_less_than_the_noise():
    """Shading by half of LSE_TOLERANCE passes, and gains exactly that: 5e-5 nats, far below seed-to-seed noise
    (~1e-2 nats on the built-in task)."""
    def shade(above, gathered):
        return above - logits.LSE_TOLERANCE / 2 if above is not None else gathered

    (x, ids, lied), = _ask(_lying_answer(shade))
    (_, _, honest), = _ask(_honest)
    gain = (honest.lse - honest.values[:, :, 0]).mean() - (lied.lse - lied.values[:, :, 0]).mean()
    assert 0 < gain <= logits.LSE_TOLERANCE


def test_a_large_shade_on_a_few_positions_is_caught():
    """f = 1/16 of positions shaded by 0.5 nats (a 0.03-nat gain in the mean): escape per batch is at most
    (15/16) ** 64 = 1.6e-2, over 4 batches 6e-8."""
    def shade(above, gathered):
        if above is None:
            return gathered
        out = above.copy()
        out.reshape(-1)[::16] -= 0.5  # (a larger shade would often take it below zero, refused at every position)
        return out

    with pytest.raises(logits.Lied, match="log-sum-exp committed"):
        _ask(_lying_answer(shade), batches=4)


def test_a_raised_target_logit_is_caught():
    """The log-sum-exp honest, the gathered target logit raised by 1 nat at every 8th position: escape per batch
    (7/8) ** 64 = 2e-4."""
    def raise_target(above, gathered):
        if gathered is None:
            return above
        out = gathered.copy()
        out.reshape(-1)[::8] += 1.0
        return out

    with pytest.raises(logits.Lied, match="gathered"):
        _ask(_lying_answer(raise_target), batches=2)


def test_a_probability_above_one_is_caught_at_every_position_audited_or_not():
    """A target logit above its position's log-sum-exp (loss below zero) at one position only: not left to
    the audit's chance."""
    def over(above, gathered):
        if gathered is None:
            return above
        out = gathered.copy()
        out[0, 0, 0] += 50.0
        return out

    with pytest.raises(logits.Lied, match="above the log-sum-exp"):
        _ask(_lying_answer(over))


def test_a_log_sum_below_zero_is_caught_at_every_position():
    def below(above, gathered):
        if above is None:
            return gathered
        out = above.copy()
        out[1, 3] = -0.01
        return out

    with pytest.raises(logits.Lied, match="above the log-sum-exp"):
        _ask(_lying_answer(below))


def test_huge_logits_neither_blur_the_loss_nor_widen_the_tolerance():
    """Logits shifted by 1e6 (the same softmax; float32 spacing there is 0.0625): the loss is the honest one to
    float32 rounding of the shifted logits, and a 0.05-nat shade everywhere is still caught, because the
    log-sum is committed above the largest logit, whose size does not matter."""
    (x, ids, got), = _ask(_honest_with(1e6))
    z = (_model_logits(x) + 1e6).double().numpy()
    exact = -np.take_along_axis(torch.log_softmax(torch.from_numpy(z), -1).numpy(), ids, 2).mean()
    assert abs((got.lse - got.values[:, :, 0]).mean() - exact) < 1e-6

    def shade(above, gathered):
        return above - 0.05 if above is not None else gathered

    with pytest.raises(logits.Lied, match="log-sum-exp committed"):
        _ask(_lying_answer(shade, offset=1e6))


def test_an_audit_answered_with_another_row_is_caught():
    """Commit to the true rows, then, audited, send rows shaded to match a lie: the digest differs."""
    def answer(sock, header, x):
        z = _model_logits(x).numpy()
        top, above, digests = _commitment(z)
        wire.send(sock, "committed", (top, np.where(above > 0.1, above - 0.1, above), digests))
        _, arrays = wire.recv(sock)
        wire.send(sock, "gathered", (np.take_along_axis(z, arrays[0], axis=2),))
        _, arrays = wire.recv(sock)
        rows = z[arrays[0][:, 0], arrays[0][:, 1]].copy()
        rows[rows < rows.max(axis=1, keepdims=True)] -= 0.1  # rows whose log-sum is nearer the lie
        wire.send(sock, "rows", (rows,))

    with pytest.raises(logits.Lied, match="SHA-256"):
        _ask(answer)


@pytest.mark.parametrize("refusal", ["failed", "closed"])
def test_refusing_to_show_what_it_committed_to_is_a_lie_not_a_crash(refusal):
    """A liar caught at the audit could answer `failed` ("CUDA out of memory") or end, to be recorded as a
    crash; after the commitment there is nothing left to compute, so either is judged as hiding the rows."""
    def answer(sock, header, x):
        z = _model_logits(x).numpy()
        top, above, digests = _commitment(z)
        wire.send(sock, "committed", (top, np.zeros_like(above), digests))  # a loss of zero, nowhere true
        wire.recv(sock)
        wire.send(sock, "gathered", (np.broadcast_to(top[:, :, None], (*top.shape, 1)).copy(),))
        wire.recv(sock)
        if refusal == "failed":
            wire.send(sock, "failed", status="crashed", reason="RuntimeError: CUDA out of memory")
        else:
            sock.close()

    with pytest.raises(logits.Lied, match="would not show them|ended before it showed them"):
        _ask(answer)


def test_logits_of_the_wrong_shape_are_a_failure_naming_both_shapes():
    def wrong(sock, header, x):
        logits.answer(sock, header, x, _model_logits(x)[:, :, :10])

    with pytest.raises(logits.Failed, match=r"returned logits of shape \(4, 64, 10\), expected \(4, 64, 300\)"):
        _ask(wrong)


def test_a_row_too_large_for_a_message_is_refused_naming_the_figure_and_the_limit():
    with pytest.raises(logits.TooLarge, match="block size 65536 x vocabulary 50304"):
        logits.check_shapes(65536, 50304)
    logits.check_shapes(1024, 50304)  # GPT-2's shapes fit


def test_large_rows_are_sent_one_message_at_a_time():
    assert logits.rows_per_message(1024, 50304) == 1  # 206 MB a row: one row a message
    assert logits.rows_per_message(256, 65) >= 64  # the built-in task: a whole batch in one message
