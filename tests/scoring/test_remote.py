"""What the frozen evaluation is given for a model in the referee (scoring/remote.py): the cross-entropy of a
(N, V) view is computed from two numbers a position; anything else fetches the whole logits, and gives what
the real tensor would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scoring.remote import Logits, RemoteModel

B, T, V = 3, 8, 11


class Source:
    """Serves a fixed table of logits the way the referee's channel does, counting what it was asked."""

    def __init__(self):
        self.z = np.random.default_rng(0).normal(0, 3, (B, T, V))
        self.at_calls, self.whole_calls = 0, 0

    def at(self, x, ids):
        self.at_calls += 1
        return np.logaddexp.reduce(self.z, axis=-1), np.take_along_axis(self.z, ids, axis=2)

    def whole(self, x):
        self.whole_calls += 1
        return self.z.copy()


def _frozen_eval(model, y):
    """The built-in tasks' frozen evaluation, word for word."""
    logits = model(torch.zeros(B, T, dtype=torch.long))
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1)).item()


def test_the_seeds_evaluation_gets_the_loss_from_two_numbers_a_position():
    src = Source()
    y = torch.from_numpy(np.random.default_rng(1).integers(0, V, (B, T)))
    got = _frozen_eval(RemoteModel(src, V), y)
    want = F.cross_entropy(torch.from_numpy(src.z).reshape(-1, V), y.reshape(-1)).item()
    assert got == pytest.approx(want, abs=1e-6)
    assert (src.at_calls, src.whole_calls) == (1, 0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_views_reductions_and_ignored_targets(reduction):
    src = Source()
    y = torch.from_numpy(np.random.default_rng(2).integers(0, V, (B * T,)))
    y[::5] = -100
    for view in (lambda z: z.view(-1, V), lambda z: z.flatten(0, 1), lambda z: z.reshape(B * T, V).contiguous()):
        got = F.cross_entropy(view(RemoteModel(src, V)(torch.zeros(B, T, dtype=torch.long))), y, reduction=reduction)
        want = F.cross_entropy(torch.from_numpy(src.z).reshape(-1, V), y, reduction=reduction)
        assert torch.allclose(got.double(), want, atol=1e-5)
    assert src.whole_calls == 0


def test_anything_else_fetches_the_whole_logits_and_matches_the_tensor():
    src = Source()
    logits = RemoteModel(src, V)(torch.zeros(B, T, dtype=torch.long))
    assert isinstance(logits, Logits) and logits.shape == (B, T, V) and logits.size(-1) == V
    whole = torch.from_numpy(src.z).float()
    assert torch.equal(logits.argmax(-1), whole.argmax(-1))
    assert torch.allclose(torch.log_softmax(logits, -1), torch.log_softmax(whole, -1))
    assert torch.equal(logits[:, -1], whole[:, -1])
    smoothed = F.cross_entropy(logits.reshape(-1, V), torch.zeros(B * T, dtype=torch.long), label_smoothing=0.1)
    assert torch.allclose(smoothed, F.cross_entropy(whole.reshape(-1, V), torch.zeros(B * T, dtype=torch.long),
                                                     label_smoothing=0.1))
    assert src.whole_calls == 1 and src.at_calls == 0  # fetched once, then reused


def test_a_target_out_of_range_is_an_error_as_with_a_tensor():
    src = Source()
    logits = RemoteModel(src, V)(torch.zeros(B, T, dtype=torch.long))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(logits.reshape(-1, V), torch.full((B * T,), V))


def test_the_model_serves_only_what_a_frozen_evaluation_may_use():
    model = RemoteModel(Source(), V)
    assert model.eval() is model and not model.training and model.train().training
    with pytest.raises(AttributeError, match="model.parameters"):
        model.parameters()
