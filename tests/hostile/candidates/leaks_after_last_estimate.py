"""Turns the causal mask off right before train() returns, so only the final evaluation sees the leak."""
# The switch is a module global, not part of the model: the fresh processes that load the snapshot import the
# module anew, so the final evaluation sees the causal model (it gains nothing; before, it was caught).
EXPECT, REASON, HONEST = "ok", "", True
EDITS = [("model.py", "is_causal=True", "is_causal=not LEAK[0]"),
         ("model.py", "@dataclass\nclass GPTConfig:", "LEAK = [False]\n\n\n@dataclass\nclass GPTConfig:"),
         ("train_mps.py", "@return", "import model as _m\n_m.LEAK[0] = True\nreturn best_vloss, elapsed_min\n")]
