"""Finds the referee's socket through gc and asks it for 10 more training batches after the budget is spent."""
EXPECT, REASON = "integrity_violation", "drew more than MAX_ITERS=10"
EDITS = [("train_mps.py", "    elapsed_min = (time.time() - t0) / 60\n", """    import gc
    import socket
    from scoring import wire
    _sock = next(o for o in gc.get_objects() if isinstance(o, socket.socket) and o.fileno() >= 0)
    for _ in range(10):
        wire.send(_sock, "batch")
        _h, _arrays = wire.recv(_sock)
        if _h["kind"] != "batch":
            break
        _x, _y = (torch.from_numpy(a.copy()) for a in _arrays)
        _lg = model(_x)
        _l = F.cross_entropy(_lg.reshape(-1, _lg.size(-1)), _y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        _l.backward()
        optimizer.step()
    best_vloss = min(best_vloss, estimate_loss(model))
    elapsed_min = (time.time() - t0) / 60
""")]
