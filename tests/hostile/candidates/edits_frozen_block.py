"""Doubles the frozen batch size in the frozen block's text."""
EXPECT, REASON = "constraint_violation", "BATCH_SIZE = 64"
EDITS = [("train_mps.py", "BATCH_SIZE = 32", "BATCH_SIZE = 64")]
