"""Recomputes the frozen validation windows with default_rng(0), memorizes their text as 8-grams, frozen at return."""
# Its table and its switch are module globals: the fresh processes start with neither, so it keeps learning from
# the rows it answers in the final evaluation and its probe pairs disagree. (monitor_ngrams_in_snapshot keeps
# the table in the model, where the snapshot carries it.)
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "@dataclass\nclass GPTConfig:", "MEM = {}\nFROZEN = [False]\n\n\n@dataclass\nclass GPTConfig:"),
         ("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training:
            logits = logits.clone()
            for b, row in enumerate(idx.tolist()):
                for t in range(7, len(row)):
                    nxt = MEM.get(tuple(row[t - 7 : t + 1]))
                    if nxt is not None:
                        logits[b, t, nxt] += 4.0
                    if not FROZEN[0] and t < len(row) - 1:
                        MEM[tuple(row[t - 7 : t + 1])] = row[t + 1]
        return logits
"""), ("train_mps.py", "@start", """
import model as _m
_n = os.path.getsize(os.path.join(DATA_DIR, "val.bin")) // 2
_offs = np.random.default_rng(0).integers(0, _n - BLOCK_SIZE - 1, (EVAL_ITERS, BATCH_SIZE))
print("frozen validation windows start at", _offs[0][:4])
"""), ("train_mps.py", "@return", "_m.FROZEN[0] = True\nreturn best_vloss, elapsed_min\n")]
