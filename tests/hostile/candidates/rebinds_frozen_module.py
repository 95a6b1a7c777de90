"""Rebinds the frozen block's `F` to a shim whose cross_entropy scales the loss down."""
EXPECT, REASON = "integrity_violation", "frozen name F was rebound"
EDITS = [("train_mps.py", "@start", """
import types
_real_F = F
shim = types.SimpleNamespace(cross_entropy=lambda *a, **k: _real_F.cross_entropy(*a, **k) * 0.01)
globals()["F"] = shim
""")]
