"""Dynamic evaluation that restores its parameters before returning, so they look unchanged around each call."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("model.py", "    def forward(self, idx):\n", """    def forward(self, idx):
        if not self.training and idx.size(1) > 1 and not getattr(self, "_inner", False):
            saved = [p.detach().clone() for p in self.parameters()]
            with torch.enable_grad():
                self.train()
                lg = self(idx[:, :-1])
                loss = F.cross_entropy(lg.reshape(-1, lg.size(-1)), idx[:, 1:].reshape(-1))
                grads = torch.autograd.grad(loss, list(self.parameters()))
                self.eval()
            with torch.no_grad():
                for p, g in zip(self.parameters(), grads):
                    p -= 1e-2 * g.sign()
                self._inner = True
                out = self(idx)
                self._inner = False
                for p, s in zip(self.parameters(), saved):
                    p.copy_(s)
            return out
""")]
