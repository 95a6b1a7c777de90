"""Raises KeyboardInterrupt inside train()."""
EXPECT, REASON = "crashed", "KeyboardInterrupt"
EDITS = [("train_mps.py", "@start", "raise KeyboardInterrupt\n")]
