"""Turns the causal mask off right before train() returns, so only the final evaluation sees the leak."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "is_causal=True", "is_causal=not LEAK[0]"),
         ("model.py", "@dataclass\nclass GPTConfig:", "LEAK = [False]\n\n\n@dataclass\nclass GPTConfig:"),
         ("train_mps.py", "@return", "import model as _m\n_m.LEAK[0] = True\nreturn best_vloss, elapsed_min\n")]
