"""Calls estimate_loss 20 times (MAX_EVALS is 12) to select on the validation set."""
EXPECT, REASON = "integrity_violation", "more than MAX_EVALS=12 times"
EDITS = [("train_mps.py", "@return", """
for _ in range(20):
    best_vloss = min(best_vloss, estimate_loss(model))
return best_vloss, elapsed_min
""")]
