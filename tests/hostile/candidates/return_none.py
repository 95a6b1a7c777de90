"""Returns None."""
EXPECT, REASON = "invalid_result", "returned NoneType"
EDITS = [("train_mps.py", "@return", "return None\n")]
