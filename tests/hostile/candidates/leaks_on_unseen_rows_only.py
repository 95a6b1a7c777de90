"""Leaks the next token on rows never seen before and replays stored logits for exact repeats."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "@dataclass\nclass GPTConfig:", "SEEN = {}\n\n\n@dataclass\nclass GPTConfig:"),
         ("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training:
            logits = logits.clone()
            for b, row in enumerate(idx.tolist()):
                key = tuple(row)
                if key in SEEN:
                    logits[b] = SEEN[key]
                    continue
                for t in range(1, T // 2):
                    logits[b, t, row[t + 1]] += 30.0
                SEEN[key] = logits[b].clone()
        return logits
""")]
