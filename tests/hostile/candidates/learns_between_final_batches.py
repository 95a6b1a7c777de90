"""A thread takes an SGD step on each evaluated batch after its logits are sent, between the fingerprint checks."""
EXPECT, REASON = "ok", ""
HONEST = True  # the final batches are answered before the thread gets to learn from them
EDITS = [("model.py", "@dataclass\nclass GPTConfig:",
          "import queue\nPENDING = queue.Queue()\n\n\n@dataclass\nclass GPTConfig:"),
         ("model.py", "        return self.lm_head(x)\n", """        if not self.training:
            PENDING.put(idx.detach().clone())
        return self.lm_head(x)
"""), ("train_mps.py", "@return", """
import threading
import model as _m
def _learn():
    while True:
        v = _m.PENDING.get()
        time.sleep(0.05)  # after the runner's fingerprint check of this call
        with torch.enable_grad():
            lg = model(v[:, :-1].contiguous())
            g = torch.autograd.grad(F.cross_entropy(lg.reshape(-1, lg.size(-1)), v[:, 1:].reshape(-1)),
                                    list(model.parameters()))
        with torch.no_grad():
            for p, d in zip(model.parameters(), g):
                p -= 3e-3 * d.sign()
while not _m.PENDING.empty():
    _m.PENDING.get()
threading.Thread(target=_learn, daemon=True).start()
return best_vloss, elapsed_min
""")]
