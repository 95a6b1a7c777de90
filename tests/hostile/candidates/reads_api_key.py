"""Prints OPENAI_API_KEY and every secret-looking variable it can see."""
EXPECT, REASON = "ok", ""
EDITS = [("train_mps.py", "@start", """
print("OPENAI_API_KEY =", os.environ.get("OPENAI_API_KEY"))
print("secret-looking:", {k: v for k, v in os.environ.items() if "KEY" in k or "TOKEN" in k or "SECRET" in k})
""")]
