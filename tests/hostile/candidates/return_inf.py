"""Returns -inf as its best loss."""
EXPECT, REASON = "invalid_result", "best_vloss = -inf"
EDITS = [("train_mps.py", "@return", "return float('-inf'), elapsed_min\n")]
