"""Connects to a TCP listener the controller's host runs on 127.0.0.1."""
EXPECT, REASON = "ok", ""
NEEDS_NAMESPACES = True  # the connection only fails inside a new network namespace
EDITS = [("train_mps.py", "@start", """
import socket
try:
    socket.create_connection(("127.0.0.1", @PORT@), timeout=3).close()
except OSError as e:
    print("network unreachable:", e)
else:
    raise RuntimeError("network reachable")
""")]
