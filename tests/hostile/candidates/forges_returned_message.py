"""After the first evaluation, sends the referee a forged "returned" claiming that loss, then keeps training."""
# The forged "returned" ends the training; the runner, which saves the model before it reports, never did.
EXPECT, REASON = "integrity_violation", "the runner did not send that 'returned'"
ANCHOR = "            best_vloss = min(best_vloss, vloss)\n"
EDITS = [("train_mps.py", ANCHOR, ANCHOR + """            if it == 0:
                import gc
                import socket
                from scoring import wire
                _s = next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() >= 0)
                wire.send(_s, "returned", value={"type": "tuple", "len": 2, "claimed": vloss, "claimed_type": "float",
                                                 "elapsed_ok": True, "elapsed_type": "float"}, peak_mem_mb=1.0)
""")]
