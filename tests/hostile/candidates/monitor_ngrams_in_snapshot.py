"""Memorizes the monitoring windows' text as 8-grams (in the model object), boosts what they predict; frozen at return."""
# The snapshot carries the table; the fitness windows come from another play than the monitoring windows, so
# what it learned there is only more Shakespeare (RELIABILITY.md "Still open").
EXPECT, REASON, HONEST = "ok", "", True
EDITS = [("model.py", "        self.config = config\n", "        self.config = config\n        self.mem, self.frozen = {}, False\n"),
         ("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training:
            logits = logits.clone()
            for b, row in enumerate(idx.tolist()):
                for t in range(7, len(row)):
                    nxt = self.mem.get(tuple(row[t - 7 : t + 1]))
                    if nxt is not None:
                        logits[b, t, nxt] += 4.0
                    if not self.frozen and t < len(row) - 1:
                        self.mem[tuple(row[t - 7 : t + 1])] = row[t + 1]
        return logits
"""), ("train_mps.py", "@start", """
import model as _m
_n = os.path.getsize(os.path.join(DATA_DIR, "val.bin")) // 2
_offs = np.random.default_rng(0).integers(0, _n - BLOCK_SIZE - 1, (EVAL_ITERS, BATCH_SIZE))
print("frozen validation windows start at", _offs[0][:4])
"""), ("train_mps.py", "@return", "model.frozen = True\nreturn best_vloss, elapsed_min\n")]
