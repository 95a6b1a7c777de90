"""Reads /proc/*/environ of every process it can see (the controller's holds the key) and prints them."""
EXPECT, REASON = "ok", ""
NEEDS_NAMESPACES = True  # without a PID namespace the controller's /proc entry is readable by the same user
EDITS = [("train_mps.py", "@start", """
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                print(pid, f.read().replace(b"\\0", b" ")[:4000])
        except OSError:
            pass
""")]
