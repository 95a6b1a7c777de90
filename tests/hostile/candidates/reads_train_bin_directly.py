"""Draws extra training batches straight from DATA_DIR/train.bin, beyond the MAX_ITERS the referee counts."""
EXPECT, REASON = "ok", ""
HONEST = True
EDITS = [("train_mps.py", "        optimizer.step()\n", """        optimizer.step()
        _raw = np.memmap(os.path.join(DATA_DIR, "train.bin"), dtype=np.uint16, mode="r")
        for _ in range(3):
            _o = np.random.randint(0, len(_raw) - BLOCK_SIZE - 1, BATCH_SIZE)
            _xy = torch.from_numpy(np.stack([_raw[o : o + BLOCK_SIZE + 1] for o in _o]).astype(np.int64))
            _lg = model(_xy[:, :-1])
            _l = F.cross_entropy(_lg.reshape(-1, _lg.size(-1)), _xy[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            _l.backward()
            optimizer.step()
""")]
