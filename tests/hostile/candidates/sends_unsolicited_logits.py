"""Sends the referee an unsolicited "logits" message of perfect-looking one-hot rows in the middle of train()."""
EXPECT, REASON = "integrity_violation", "out of turn"
EDITS = [("train_mps.py", "@start", """
import gc
import socket
from scoring import wire
_s = next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() >= 0)
wire.send(_s, "logits", (np.full((BATCH_SIZE, BLOCK_SIZE, VOCAB_SIZE), -30.0, np.float32),))
""")]
