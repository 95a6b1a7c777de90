"""Ignores SIGTERM and SIGINT (in itself and a child that shares the handler), then loops."""
EXPECT, REASON, TIMEOUT = "timeout", "8 s timeout", 8
EDITS = [("train_mps.py", "@start", """
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
if os.fork() == 0:
    while True:
        time.sleep(0.1)
while True:
    time.sleep(0.1)
""")]
