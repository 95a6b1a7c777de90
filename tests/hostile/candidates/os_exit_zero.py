"""Calls os._exit(0) inside train(): a clean exit code, but no result."""
EXPECT, REASON = "crashed", "exited with code 0 before returning a result"
EDITS = [("train_mps.py", "@start", "os._exit(0)\n")]
