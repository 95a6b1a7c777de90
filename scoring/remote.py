"""What the frozen evaluation function is given when the trusted referee runs it: a stand-in for the model
whose logits stay where the model is until the evaluation says what it needs of them.

`RemoteModel(source)(x)` returns `Logits`, which behaves like the (B, T, V) tensor for what a frozen
evaluation does first (`.size()`, `.shape`, `.reshape(-1, V)`, `.view`, `.flatten`, `.float()`,
`.contiguous()`, `.to(dtype)`). `F.cross_entropy` on it (a (N, V) view, class indices, no weight or label
smoothing) asks the source for each position's log-sum-exp and the target's logit only: two numbers a
position, whatever the vocabulary (scoring/logits.py). Anything else materializes the whole logits first
(`source.whole(x)`), which the referee allows up to scoring.logits.WHOLE_LIMIT bytes a batch.

`source` has `at(x, ids) -> (lse (B, T), values (B, T, K))` and `whole(x) -> (B, T, V)`, numpy float64.
"""

from __future__ import annotations

import math

import numpy as np


class RemoteModel:
    """What the frozen evaluation function is given for `model`: calling it gives the logits of x.

    It answers the calls a frozen evaluation makes of a model (`model(x)`, `.training`, `.eval()`,
    `.train(flag)`); the candidate's side puts the real model in eval mode around each evaluation.
    """

    def __init__(self, source, vocab: int):
        self._source, self._vocab = source, vocab
        self.training = True

    def __call__(self, x):
        x = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.int64)
        return Logits(self._source, x, (*x.shape, self._vocab))

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def __getattr__(self, name):
        raise AttributeError(f"the frozen evaluation uses model.{name}, which the trusted referee cannot serve "
                             "(it may only call the model and use .training / .eval() / .train())")


def _materialized(value):
    if isinstance(value, Logits):
        return value.materialize()
    if isinstance(value, (list, tuple)):
        return type(value)(_materialized(v) for v in value)
    return value


class Logits:
    """The logits of one batch, not fetched yet. `shape` is (B, T, V) or a view of it as (B * T, V)."""

    def __init__(self, source, x: np.ndarray, shape: tuple[int, ...], dtype=None, fetched: dict | None = None):
        import torch

        self._source, self._x = source, x
        self.shape = torch.Size(shape)
        self.dtype = dtype or torch.float32
        self._fetched = {} if fetched is None else fetched  # shared by every view of the same batch

    # ---- what a frozen evaluation asks of a tensor before the loss ----

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return len(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def device(self):
        import torch

        return torch.device("cpu")

    def numel(self) -> int:
        return math.prod(self.shape)

    def _as(self, shape=None, dtype=None) -> Logits:
        return Logits(self._source, self._x, self.shape if shape is None else shape, dtype or self.dtype, self._fetched)

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        V = self.shape[-1]
        resolved = tuple(self.numel() // V if d == -1 and len(shape) == 2 else d for d in shape)
        if resolved in ((self.numel() // V, V), tuple(self._x.shape) + (V,)):
            return self._as(resolved)
        return self.materialize().reshape(*shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 3 and start_dim == 0 and end_dim in (1, -2):
            return self._as((self.numel() // self.shape[-1], self.shape[-1]))
        return self.materialize().flatten(start_dim, end_dim)

    def float(self):
        import torch

        return self._as(dtype=torch.float32)

    def double(self):
        import torch

        return self._as(dtype=torch.float64)

    def contiguous(self, *args, **kwargs):
        return self

    def detach(self):
        return self

    def to(self, *args, **kwargs):
        import torch

        wanted = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.dtype)]
        others = [a for a in (*args, *kwargs.values()) if not isinstance(a, (torch.dtype, bool))
                  and str(a) not in ("cpu",)]
        if not others and all(d in (torch.float32, torch.float64) for d in wanted):
            return self._as(dtype=wanted[-1] if wanted else None)
        return self.materialize().to(*args, **kwargs)

    # ---- the loss, from two numbers a position ----

    def cross_entropy(self, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                      reduction="mean", label_smoothing=0.0):
        import torch
        import torch.nn.functional as F

        if not self._plain(target, weight, size_average, reduce, reduction, label_smoothing):
            return F.cross_entropy(self.materialize(), target, weight, size_average, ignore_index, reduce,
                                   reduction, label_smoothing)
        y = target.detach().cpu().numpy().astype(np.int64).reshape(self._x.shape)
        keep = y != ignore_index
        if ((y[keep] < 0) | (y[keep] >= self.shape[-1])).any():
            raise IndexError(f"target out of bounds: ids must be in 0..{self.shape[-1] - 1}")
        lse, values = self._source.at(self._x, np.where(keep, y, 0)[:, :, None])
        nll = np.where(keep, lse - values[:, :, 0], 0.0).reshape(-1)
        if reduction == "none":
            return torch.from_numpy(nll).to(self.dtype)
        kept = int(keep.sum())
        total = float(nll.sum()) if reduction == "sum" else float(nll.sum()) / kept if kept else math.nan
        return torch.tensor(total, dtype=self.dtype)

    def _plain(self, target, weight, size_average, reduce, reduction, label_smoothing) -> bool:
        """Whether F.cross_entropy's arguments ask for what two numbers a position give: class indices, one
        per position of a (N, V) view, no weights or smoothing."""
        import torch

        settings_plain = weight is None and size_average is None and reduce is None and not label_smoothing
        target_plain = isinstance(target, torch.Tensor) and not target.is_floating_point() \
            and target.numel() == self.shape[0]
        return self.ndim == 2 and settings_plain and reduction in ("mean", "sum", "none") and target_plain

    # ---- anything else: the whole logits ----

    def materialize(self):
        import torch

        if "whole" not in self._fetched:
            self._fetched["whole"] = torch.from_numpy(self._source.whole(self._x))
        return self._fetched["whole"].reshape(self.shape).to(self.dtype)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        import torch.nn.functional as F

        kwargs = kwargs or {}
        if func is F.cross_entropy and isinstance(args[0], Logits):
            return args[0].cross_entropy(*args[1:], **kwargs)
        return func(*_materialized(args), **{k: _materialized(v) for k, v in kwargs.items()})

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.materialize(), name)

    def __getitem__(self, key):
        return self.materialize()[key]

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Logits(shape={tuple(self.shape)}, not fetched)"


def _delegate(name: str):
    def op(self, *args):
        return getattr(self.materialize(), name)(*_materialized(args))
    op.__name__ = name
    return op


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__neg__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__pow__",
              "__matmul__"):
    setattr(Logits, _name, _delegate(_name))
