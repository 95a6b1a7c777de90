"""A thread waits for the first evaluation to start, then replaces F.cross_entropy while it runs."""
EXPECT, REASON = "integrity_violation", "torch.nn.functional.cross_entropy was replaced"
EDITS = [("train_mps.py", "@start", """
import threading
_real = F.cross_entropy
def _patch():
    while model_holder and model_holder[0].training:
        time.sleep(0.001)
    F.cross_entropy = lambda *a, **k: _real(*a, **k) * 0.01
model_holder = []
threading.Thread(target=_patch, daemon=True).start()
"""), ("train_mps.py", "    best_vloss = math.inf\n", "    model_holder.append(model)\n    best_vloss = math.inf\n")]
