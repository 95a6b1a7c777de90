"""Asks the referee for its second training batch by hand with step_flops=1.0: charged 10 FLOPs instead of ~1e11.

The first step's FLOPs are reported by the candidate's process with its second batch request; sending
that request itself, first, sets them. It draws no extra batch (the hand-drawn one replaces the second
get_batch() call, in the same order), so its loss is the seed's: a cheat on the compute count, not on
the fitness. tests/hostile/test_wire_attacks.py runs it under a max_train_flops cap, where it must not
end ok.
"""

EXPECT, REASON = "ok", ""
HONEST = True  # the same batches in the same order: no better than honest_seed

EDITS = [
    ("train_mps.py", "@start", """
import gc
import socket
from scoring import wire
_sock = next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() >= 0)
"""),
    ("train_mps.py", "        x, y = get_batch()\n", """\
        if it == 1:  # the request that carries the first step's FLOPs, sent first
            wire.send(_sock, "batch", step_flops=1.0)
            _h, _a = wire.recv(_sock)
            x, y = (torch.from_numpy(a.copy()).to(DEVICE) for a in _a)
        else:
            x, y = get_batch()
"""),
]
