"""Walks the stack to the runner's globals and stubs its fingerprint tripwire (from train()), then learns in forward."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "        return self.lm_head(x)\n", """        logits = self.lm_head(x)
        if not self.training and idx.size(1) > 1:
            with torch.enable_grad():
                self.train()
                lg = self(idx)
                grads = torch.autograd.grad(F.cross_entropy(lg[:, :-1].reshape(-1, lg.size(-1)),
                                                            idx[:, 1:].reshape(-1)), list(self.parameters()))
                self.eval()
            with torch.no_grad():
                for p, g in zip(self.parameters(), grads):
                    p -= 1e-2 * g.sign()
        return logits
"""),
         ("train_mps.py", "@start", """
import sys
_f = sys._getframe()
while _f is not None and "fingerprint" not in _f.f_globals:
    _f = _f.f_back
if _f is not None:
    _f.f_globals["fingerprint"] = lambda model: b"unchanged"
""")]
