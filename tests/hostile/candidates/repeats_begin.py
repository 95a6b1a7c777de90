"""Sends a fresh "begin" on the gc-found socket before every training batch, restarting the referee's training clock.

Under a task with max_train_seconds, the referee's clock would measure only the time since the last
batch; tests/hostile/test_wire_attacks.py runs this under such a cap. Here (no cap) the repeated one-shot
message alone must be refused.
"""

EXPECT, REASON = "integrity_violation", "begin"

FIND_SOCKET = """
import gc
import socket
from scoring import wire
_sock = next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() >= 0)
"""

EDITS = [
    ("train_mps.py", "@start", FIND_SOCKET),
    ("train_mps.py", "        x, y = get_batch()\n",
     "        wire.send(_sock, \"begin\", device=DEVICE)  # the clock starts again\n        x, y = get_batch()\n"),
]
