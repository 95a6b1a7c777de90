"""Calls sys.exit(3) inside train()."""
EXPECT, REASON = "crashed", "SystemExit: 3"
EDITS = [("train_mps.py", "@start", "import sys\nsys.exit(3)\n")]
