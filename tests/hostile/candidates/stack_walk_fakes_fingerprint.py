"""Walks the stack from forward to the runner's `before` fingerprint and overwrites it after learning in place."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training and idx.size(1) > 1:
            import sys
            with torch.enable_grad():
                self.train()
                lg = self(idx)
                grads = torch.autograd.grad(F.cross_entropy(lg[:, :-1].reshape(-1, lg.size(-1)),
                                                            idx[:, 1:].reshape(-1)), list(self.parameters()))
                self.eval()
            with torch.no_grad():
                for p, g in zip(self.parameters(), grads):
                    p -= 1e-2 * g.sign()
            f = sys._getframe(1)
            while f is not None and not isinstance(f.f_locals.get("before"), list):
                f = f.f_back
            if f is not None:
                f.f_locals["before"][:] = f.f_globals["fingerprint"](self)
        return logits
""")]
