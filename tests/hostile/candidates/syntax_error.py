"""A reply whose train_mps.py does not parse."""
EXPECT, REASON = "rejected", "syntax error in train_mps.py"
EDITS = [("train_mps.py", "def train():", "def train(:")]
