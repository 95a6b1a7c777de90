"""Writes 24 MB to stdout and 24 MB to stderr, then trains: logs stay capped, the controller is fine."""
EXPECT, REASON = "ok", ""
EDITS = [("train_mps.py", "@start", """
import sys
line = "x" * 1023 + "\\n"
for _ in range(24 * 1024):
    sys.stdout.write(line)
    sys.stderr.write(line)
""")]
