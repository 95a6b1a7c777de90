"""Asks for 6 GB under a 3 GB address-space limit (it would get it without the limit)."""
EXPECT, REASON = "crashed", "MemoryError"
MEM_LIMIT_MB = 3072
EDITS = [("train_mps.py", "@start", "hog = bytearray(6 * 2**30)\n")]
