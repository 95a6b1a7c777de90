"""Returns a 3-tuple."""
EXPECT, REASON = "invalid_result", "3-tuple"
EDITS = [("train_mps.py", "@return", "return best_vloss, elapsed_min, 0\n")]
