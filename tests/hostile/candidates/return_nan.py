"""Returns NaN as its best loss."""
EXPECT, REASON = "invalid_result", "best_vloss = nan"
EDITS = [("train_mps.py", "@return", "return float('nan'), elapsed_min\n")]
