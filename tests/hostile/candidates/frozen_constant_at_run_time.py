"""Halves MAX_ITERS at run time through a name the static guard cannot see."""
EXPECT, REASON = "integrity_violation", "frozen MAX_ITERS is 5"
EDITS = [("train_mps.py", "@start", "import sys\nsetattr(sys.modules[__name__], 'MAX_' + 'ITERS', 5)\n")]
