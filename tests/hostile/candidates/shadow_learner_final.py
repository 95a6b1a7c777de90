"""A "continuous cache": a shadow model (in a list attribute) learns each final batch after answering; a prefix memo.

Test-time training (dynamic evaluation) without touching the registered parameters: the runner's
fingerprint of model.parameters() never moves. The shadow answers every final batch, then takes optimizer
steps on that batch's inputs (x[:, :-1] -> x[:, 1:]), so later batches are answered by a model that has
read the earlier fitness and test windows. A memo keyed on the bytes of each prefix (first answer wins)
makes a splice and its original, or a repeat and its original, agree up to the cut. The shadow's
optimizer continues from the training optimizer's state. With every final batch in one process this
scored ok with a gain over the seed (3.3632 against 3.4480 at smoke; 3.3821 in an earlier version).
With the two rows of every pair answered by two fresh processes, each shadow has read different batches.
"""

EXPECT, REASON = "causal_leak", "changed by"

FORWARD = '''    def forward(self, idx):
        if not self.training and getattr(self, "serving", False):
            return self._continuous_cache(idx)
'''

CACHE = '''
    def _shadow(self):
        return self.shadow[0], self.shadow[1]

    def _continuous_cache(self, idx):
        """Answer with the shadow (a prefix answered once stays answered), then let it learn the batch."""
        shadow, opt = self._shadow()
        with torch.no_grad():
            logits = shadow(idx).detach().clone()
        B, T, V = logits.shape
        for b in range(B):
            raw = idx[b].detach().to("cpu").to(torch.int64).numpy().tobytes()
            for t in range(T):
                key = raw[: 8 * (t + 1)]
                hit = self.memo.get(key)
                if hit is None:
                    self.memo[key] = logits[b, t].clone()
                else:
                    logits[b, t] = hit
        with torch.enable_grad():
            shadow.train()
            for _ in range(self.tt_steps):
                lg = shadow(idx[:, :-1])
                loss = F.cross_entropy(lg.reshape(-1, lg.size(-1)), idx[:, 1:].reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            shadow.eval()
        return logits

    def start_serving(self, optimizer, steps=2):
        """After training: a shadow copy for test-time training, outside the registered parameters; its
        optimizer continues from the training optimizer's state (same hyperparameters, same moments)."""
        shadow = copy.deepcopy(self).eval()
        opt = type(optimizer)(shadow.parameters())
        opt.load_state_dict(optimizer.state_dict())
        self.shadow = [shadow, opt]
        self.tt_steps, self.memo, self.serving = steps, {}, True
'''

EDITS = [
    ("model.py", "import math\n", "import copy\nimport math\n"),
    ("model.py", "    def forward(self, idx):\n", FORWARD),
    ("model.py", "        return self.lm_head(x)\n", "        return self.lm_head(x)\n" + CACHE),
    ("train_mps.py", "@return", """
model.start_serving(optimizer)
return best_vloss, elapsed_min
"""),
]
