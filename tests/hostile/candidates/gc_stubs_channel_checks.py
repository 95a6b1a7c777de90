"""Finds the runner's Channel through gc, stubs its tripwires and fingerprint, then learns while evaluated."""
EXPECT, REASON = "causal_leak", "changed by"
EDITS = [("train_mps.py", "@start", """
import gc
_chan = next(o for o in gc.get_objects() if type(o).__name__ == "Channel")
_chan.checks = lambda: None
_real_ce = F.cross_entropy
F.cross_entropy = lambda *a, **k: _real_ce(*a, **k)
sys_mod = __import__("sys").modules["__main__"]
sys_mod.fingerprint = lambda m: []
"""), ("model.py", "    def forward(self, idx):\n", """    def forward(self, idx):
        if not self.training and idx.size(1) > 1:
            with torch.enable_grad():
                self.train()
                lg = self(idx[:, :-1])
                grads = torch.autograd.grad(F.cross_entropy(lg.reshape(-1, lg.size(-1)), idx[:, 1:].reshape(-1)),
                                            list(self.parameters()))
                self.eval()
            with torch.no_grad():
                for p, g in zip(self.parameters(), grads):
                    p -= 1e-2 * g.sign()
""")]
