"""A kNN-LM cache: every 6-gram of every evaluated input is remembered and boosts its continuation later."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "@dataclass\nclass GPTConfig:", "CACHE = {}\n\n\n@dataclass\nclass GPTConfig:"),
         ("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training:
            logits = logits.clone()
            for b, row in enumerate(idx.tolist()):
                for t in range(5, len(row)):
                    nxt = CACHE.get(tuple(row[t - 5 : t + 1]))
                    if nxt is not None:
                        logits[b, t, nxt] += 4.0
                for t in range(5, len(row) - 1):
                    CACHE[tuple(row[t - 5 : t + 1])] = row[t + 1]
        return logits
""")]
