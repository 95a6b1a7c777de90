"""Spins in `while True` inside train()."""
EXPECT, REASON, TIMEOUT = "timeout", "8 s timeout", 8
EDITS = [("train_mps.py", "@start", "while True:\n    pass\n")]
