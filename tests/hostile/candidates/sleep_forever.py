"""Sleeps for a million seconds inside train()."""
EXPECT, REASON, TIMEOUT = "timeout", "8 s timeout", 8
EDITS = [("train_mps.py", "@start", "time.sleep(10**6)\n")]
