"""Writes a forged ok verdict next to the run folder, SIGKILLs its parent (pid 0 in the namespace), exits 0."""
EXPECT, REASON = "crashed", "killed by SIGKILL"
NEEDS_NAMESPACES = True  # outside a PID namespace the parent is the controller
EDITS = [("train_mps.py", "@return", """
import json
import signal
forged = {"status": "ok", "reason": "", "best_vloss": 0.01, "test_loss": 0.01, "finished": True}
for d in (".", "..", "../.private"):
    try:
        with open(os.path.join(d, "verdict.json"), "w") as f:
            json.dump(forged, f)
    except OSError:
        pass
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
os._exit(0)
""")]
