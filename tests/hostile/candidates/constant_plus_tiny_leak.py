"""Adds 1e4 to every logit and a 1.5e-3 logit leak on the next token: below the probe's 2e-3 tolerance."""
EXPECT, REASON = "ok", ""
HONEST = True
EDITS = [("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training:
            logits = logits.double() + 1e4
            logits[:, :-1].scatter_add_(-1, idx[:, 1:, None], torch.full_like(idx[:, 1:, None], 1.5e-3,
                                                                            dtype=logits.dtype))
            logits = logits - 1e4
        return logits
""")]
