"""Starts a non-daemon thread that never ends, then returns: scored at once, not held until the timeout."""
EXPECT, REASON = "ok", ""
EDITS = [("train_mps.py", "@start", """
import threading
threading.Thread(target=lambda: [time.sleep(1) for _ in iter(int, 1)], daemon=False).start()
""")]
