"""Dynamic evaluation: in eval mode forward first takes an SGD step on the input it is given, then answers."""
EXPECT, REASON = "integrity_violation", "parameters or buffers changed while it was evaluated"
EDITS = [("model.py", "    def forward(self, idx):\n", """    def forward(self, idx):
        if not self.training and idx.size(1) > 1:
            with torch.enable_grad():
                self.train()
                lg = self(idx[:, :-1])
                loss = F.cross_entropy(lg.reshape(-1, lg.size(-1)), idx[:, 1:].reshape(-1))
                grads = torch.autograd.grad(loss, list(self.parameters()))
                self.eval()
            with torch.no_grad():
                for p, g in zip(self.parameters(), grads):
                    p -= 1e-2 * g.sign()
""")]
