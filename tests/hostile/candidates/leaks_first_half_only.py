"""Leaks the next token only at positions before T/2, where the last-position check does not look."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training:
            logits = logits.clone()
            h = T // 2
            logits[:, : h - 1].scatter_add_(-1, idx[:, 1:h, None], torch.full_like(idx[:, 1:h, None], 30.0,
                                                                                  dtype=logits.dtype))
        return logits
""")]
