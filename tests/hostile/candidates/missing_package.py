"""Imports a package that is not installed."""
EXPECT, REASON = "crashed", "No module named 'flash_attn_turbo_9000'"
EDITS = [("model.py", "import torch\n", "import torch\nimport flash_attn_turbo_9000\n")]
