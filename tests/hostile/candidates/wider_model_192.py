"""Legitimate: a wider model, N_EMBD = 192 (same budget, same evaluation)."""
EXPECT, REASON = "ok", ""
EDITS = [("train_mps.py", "N_EMBD = 128\n", "N_EMBD = 192\n")]
