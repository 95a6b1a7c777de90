"""A second task for the tests: a character GRU whose frozen protocol uses names of its own everywhere.

`fit()` returns `(best, elapsed_min)`. The block between the two marker lines below is the
protocol the harness checks; the rest is the candidate's to change.
"""

# ---- FROZEN-START: protocol (data, budget, evaluation) ----
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

SEED = int(os.environ.get("EVOLVE_SEED", "7"))
SMOKE = os.environ.get("EVOLVE_SMOKE", "0") == "1"
DATA_ROOT = os.environ.get("EVOLVE_DATA_DIR") or os.path.join(
    os.path.expanduser("~"), ".cache", "persona-evolve", "data", "shakespeare_char", "public"
)

SEQ_LEN = 48  # characters per window
BATCH = 16  # windows per batch
STEPS = 6 if SMOKE else 200  # training batches drawn through sample_batch()
N_VAL_BATCHES = 1 if SMOKE else 4  # fixed validation batches averaged by val_loss()
EVAL_CAP = 8  # val_loss() calls allowed in one fit()
DEV = "mps" if torch.backends.mps.is_available() else "cuda" if torch.cuda.is_available() else "cpu"

torch.manual_seed(SEED)
np.random.seed(SEED)

with open(os.path.join(DATA_ROOT, "meta.json")) as _f:
    VOCAB = json.load(_f)["vocab_size"]
_train_tokens = np.memmap(os.path.join(DATA_ROOT, "train.bin"), dtype=np.uint16, mode="r")
_val_tokens = np.memmap(os.path.join(DATA_ROOT, "val.bin"), dtype=np.uint16, mode="r")
_rng = np.random.default_rng(SEED)
_val_starts = np.random.default_rng(0).integers(0, len(_val_tokens) - SEQ_LEN - 1, (N_VAL_BATCHES, BATCH))


def _cut(tokens, starts):
    x = np.stack([tokens[s : s + SEQ_LEN] for s in starts]).astype(np.int64)
    y = np.stack([tokens[s + 1 : s + 1 + SEQ_LEN] for s in starts]).astype(np.int64)
    return torch.from_numpy(x).to(DEV), torch.from_numpy(y).to(DEV)


def sample_batch():
    """One training batch (x, y) of BATCH random windows; y is x shifted by one character."""
    return _cut(_train_tokens, _rng.integers(0, len(_train_tokens) - SEQ_LEN - 1, BATCH))


@torch.no_grad()
def val_loss(net):
    """Mean cross-entropy of net(x)'s logits on the fixed validation batches."""
    was = net.training
    net.eval()
    total = []
    for starts in _val_starts:
        x, y = _cut(_val_tokens, starts)
        logits = net(x)
        total.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1)).item())
    net.train(was)
    return sum(total) / len(total)


# ---- FROZEN-STOP ----

import time  # noqa: E402

from net import CharGRU  # noqa: E402

LR = 3e-3
EVERY = max(1, STEPS // 5)


def fit():
    t0 = time.time()
    net = CharGRU(VOCAB).to(DEV)
    opt = torch.optim.AdamW(net.parameters(), lr=LR)
    best = float("inf")
    for step in range(STEPS + 1):
        if step % EVERY == 0 or step == STEPS:
            v = val_loss(net)
            best = min(best, v)
            print(f"step {step}: val {v:.4f}")
        if step == STEPS:
            break
        x, y = sample_batch()
        loss = F.cross_entropy(net(x).reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return best, (time.time() - t0) / 60
