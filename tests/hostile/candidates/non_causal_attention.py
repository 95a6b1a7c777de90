"""Attention without the causal mask: position t sees t+1, the character it must predict."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "is_causal=True", "is_causal=False")]
