"""Starts a long-lived child process and returns normally: scored, and the child is gone afterwards."""
EXPECT, REASON = "ok", ""
EDITS = [("train_mps.py", "@start", """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "@MARKER@"])
""")]
