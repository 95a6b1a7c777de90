"""Trains without ever calling estimate_loss and claims 0.1."""
EXPECT, REASON = "invalid_result", "never called the frozen evaluation function"
EDITS = [("train_mps.py", "            vloss = estimate_loss(model)\n", "            vloss = 0.1\n")]
