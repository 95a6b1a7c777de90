"""Dereferences a null pointer through ctypes."""
EXPECT, REASON = "crashed", "killed by SIGSEGV"
EDITS = [("train_mps.py", "@start", "import ctypes\nctypes.string_at(0)\n")]
