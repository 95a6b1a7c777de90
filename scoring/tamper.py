"""Run-time tripwires, set by the runner in the candidate's process while and after its train() runs.

The verdict does not rest on these: the referee (scoring/referee.py) computes every loss in a process of
its own. They name, early and plainly, the common ways a candidate breaks the protocol in its own process:
rebinding the frozen block's globals (`globals()["val_" + "data"] = train_data`), editing its arrays in
place, or replacing a library function the frozen code calls (`F.cross_entropy = lambda *a: tiny`). Both
checks compare against what existed before any candidate code ran, and name the first difference.
Code in the same process can defeat them (the garbage collector, stack frames, ctypes): RELIABILITY.md.
"""

from __future__ import annotations

import builtins
import types

_MISSING = object()
TORCH_NAMES = ("from_numpy", "no_grad", "randint", "Generator", "tensor", "as_tensor", "stack", "cat",
               "set_grad_enabled", "is_grad_enabled", "inference_mode")


class LibrarySurface:
    """The library attributes the frozen evaluation and the runner's probes call, snapshotted by identity."""

    def __init__(self) -> None:
        import numpy
        import torch
        import torch.nn.functional

        modules = [builtins, numpy, torch.nn.functional, getattr(torch._C, "_nn", None)]
        self.modules = [(m, dict(vars(m))) for m in modules if m is not None]
        # torch itself rewraps some of its functions on first use (torch._dynamo wraps manual_seed), so only
        # the ones the evaluation and the probes call are held to their identity.
        self.modules.append((torch, {n: getattr(torch, n) for n in TORCH_NAMES if hasattr(torch, n)}))
        base = getattr(torch._C, "TensorBase", None) or getattr(torch._C, "_TensorBase", None)
        self.classes = [(c, dict(vars(c))) for c in (torch.Tensor, base) if c is not None]

    def problem(self) -> str | None:
        for module, snapshot in self.modules:
            now = vars(module)
            for name, value in snapshot.items():
                if now.get(name, _MISSING) is not value:
                    return f"{module.__name__}.{name} was replaced while train() ran"
        for cls, snapshot in self.classes:
            now = vars(cls)
            for name, value in snapshot.items():
                if now.get(name, _MISSING) is not value:
                    return f"{cls.__name__}.{name} was replaced while train() ran"
            for name in now.keys() - snapshot.keys():
                if any(name in vars(base) for base in cls.__mro__[1:]):
                    return f"{cls.__name__}.{name} was overridden while train() ran"
        return None


def frozen_bindings(module: types.ModuleType) -> dict:
    """The candidate module's values of every name, taken right after import (before train())."""
    return dict(vars(module))


def binding_problem(module: types.ModuleType, reference: dict, at_import: dict) -> str | None:
    """A name the frozen block defines, now bound to something else than the frozen block made it.

    Imported modules must be the very same module objects; arrays must be the object seen at import
    and hold exactly the reference values; other objects (functions, generators) must be the object
    seen at import. Plain constants are checked by value elsewhere.
    """
    for name, want in reference.items():
        if name.startswith("__") or isinstance(want, (bool, int, float, str)):
            continue
        problem = _rebound(name, want, getattr(module, name, _MISSING), at_import.get(name, _MISSING))
        if problem:
            return problem
    return None


def _rebound(name: str, want: object, got: object, seen: object) -> str | None:
    """How the frozen name's value `got` differs from the block's `want` (and from `seen` at import), or None."""
    import numpy as np

    if isinstance(want, types.ModuleType):
        return None if got is want else f"frozen name {name} was rebound to {_describe(got)}"
    if got is not seen:
        return f"frozen {name} was rebound to {_describe(got)}"
    if isinstance(want, np.ndarray) and not (isinstance(got, np.ndarray) and got.shape == want.shape
                                             and np.array_equal(got, want)):
        return f"frozen {name} no longer holds the frozen block's values"
    return None


def _describe(value: object) -> str:
    if value is _MISSING:
        return "nothing (deleted)"
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")
