"""Returns the loss as a string."""
EXPECT, REASON = "invalid_result", "best_vloss of type str"
EDITS = [("train_mps.py", "@return", "return str(best_vloss), elapsed_min\n")]
