"""Starts a child in a new session with an empty environment (no run token), that outlives train()."""
EXPECT, REASON = "ok", ""
NEEDS_NAMESPACES = True  # without a PID namespace, a child that drops the token and the group escapes
EDITS = [("train_mps.py", "@start", """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "@MARKER@"], env={},
                 start_new_session=True)
""")]
