"""Forks 8 times over (256 processes), each spinning: bounded so a broken sandbox cannot take the host down."""
EXPECT, REASON, TIMEOUT = "timeout", "8 s timeout", 8
EDITS = [("train_mps.py", "@start", """
for _ in range(8):
    try:
        os.fork()
    except OSError:
        pass
while True:
    time.sleep(0.05)
""")]
