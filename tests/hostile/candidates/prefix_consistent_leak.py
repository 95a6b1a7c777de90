"""Leaks the next token in the first half of each row, and copies the logits of any earlier row sharing a prefix."""
# Its copies of earlier rows' logits agree with nothing: each probe's partner is answered by the other process.
EXPECT, REASON = "causal_leak", "when only tokens after"
EDITS = [("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if self.training:
            return logits
        out = logits.clone()
        for b, row in enumerate(idx.tolist()):
            for t in range(1, len(row) // 2):
                out[b, t, row[t + 1]] += 30.0
            best, src = 0, None
            for prev, lg in SEEN:
                n = 0
                while n < len(row) and prev[n] == row[n]:
                    n += 1
                if n > best:
                    best, src = n, lg
            if src is not None:
                out[b, :best] = src[:best]
            SEEN.append((row, out[b].clone()))
        return out

    def train(self, mode=True):
        if not mode:
            SEEN.clear()  # a new evaluation begins: forget the last one's rows
        return super().train(mode)
"""), ("model.py", "@dataclass\nclass GPTConfig:", "SEEN = []\n\n\n@dataclass\nclass GPTConfig:")]
