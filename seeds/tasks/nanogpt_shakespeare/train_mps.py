"""Train the character-level GPT on Shakespeare under a fixed budget.

`train()` returns `(best_vloss, elapsed_min)`. The block between the FROZEN markers fixes the data, the
split, the vocabulary, the context and batch size, the training budget, the evaluation protocol, the
seed and the device; the harness checks that it is unchanged. Everything below it is yours to change.
"""

# ==================== FROZEN BEGIN: data, budget and evaluation (checked by the harness) ====================
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

# The only three settings the harness overrides, and only through these variables.
SEED = int(os.environ.get("EVOLVE_SEED", "1337"))
SMOKE = os.environ.get("EVOLVE_SMOKE", "0") == "1"
DATA_DIR = os.environ.get("EVOLVE_DATA_DIR") or os.path.join(
    os.path.expanduser("~"), ".cache", "persona-evolve", "data", "shakespeare_char", "public"
)

BLOCK_SIZE = 64  # context length, in characters
BATCH_SIZE = 32  # sequences per training batch
MAX_ITERS = 10 if SMOKE else 300  # the training budget: batches drawn through get_batch()
EVAL_ITERS = 1 if SMOKE else 8  # fixed validation batches averaged by estimate_loss()
MAX_EVALS = 12  # estimate_loss() calls allowed in one train()

DEVICE = "mps" if torch.backends.mps.is_available() else "cuda" if torch.cuda.is_available() else "cpu"

torch.manual_seed(SEED)
np.random.seed(SEED)

with open(os.path.join(DATA_DIR, "meta.json")) as _f:
    VOCAB_SIZE = json.load(_f)["vocab_size"]
train_data = np.memmap(os.path.join(DATA_DIR, "train.bin"), dtype=np.uint16, mode="r")
val_data = np.memmap(os.path.join(DATA_DIR, "val.bin"), dtype=np.uint16, mode="r")
_batch_rng = np.random.default_rng(SEED)
# The validation windows are the same for every seed and every candidate, so losses are comparable.
_val_offsets = np.random.default_rng(0).integers(0, len(val_data) - BLOCK_SIZE - 1, (EVAL_ITERS, BATCH_SIZE))


def _windows(data, offsets):
    x = np.stack([data[i : i + BLOCK_SIZE] for i in offsets]).astype(np.int64)
    y = np.stack([data[i + 1 : i + 1 + BLOCK_SIZE] for i in offsets]).astype(np.int64)
    return torch.from_numpy(x).to(DEVICE), torch.from_numpy(y).to(DEVICE)


def get_batch():
    """The next training batch (x, y): BATCH_SIZE random windows, y is x shifted by one character."""
    return _windows(train_data, _batch_rng.integers(0, len(train_data) - BLOCK_SIZE - 1, BATCH_SIZE))


@torch.no_grad()
def estimate_loss(model):
    """Mean cross-entropy of model(x)'s logits on the fixed validation batches: the fitness."""
    was_training = model.training
    model.eval()
    losses = []
    for offsets in _val_offsets:
        x, y = _windows(val_data, offsets)
        logits = model(x)
        losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1)).item())
    model.train(was_training)
    return sum(losses) / len(losses)


# ==================== FROZEN END ====================

import math  # noqa: E402
import time  # noqa: E402

from model import GPT, GPTConfig  # noqa: E402

# model
N_LAYER = 4
N_HEAD = 4
N_EMBD = 128
DROPOUT = 0.0

# optimizer
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.1
BETA1 = 0.9
BETA2 = 0.999

EVAL_INTERVAL = max(1, MAX_ITERS // 10)


def get_lr(it: int) -> float:
    """Learning rate at step `it` (constant in the seed)."""
    return LEARNING_RATE


def train():
    t0 = time.time()
    config = GPTConfig(
        block_size=BLOCK_SIZE, vocab_size=VOCAB_SIZE, n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD,
        dropout=DROPOUT,
    )
    model = GPT(config).to(DEVICE)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=LEARNING_RATE, betas=(BETA1, BETA2), weight_decay=WEIGHT_DECAY
    )
    print(f"{model.num_params() / 1e6:.2f}M parameters on {DEVICE}, {MAX_ITERS} steps")

    best_vloss = math.inf
    for it in range(MAX_ITERS + 1):
        if it % EVAL_INTERVAL == 0 or it == MAX_ITERS:
            vloss = estimate_loss(model)
            best_vloss = min(best_vloss, vloss)
            print(f"step {it}: val loss {vloss:.4f}")
        if it == MAX_ITERS:
            break
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        x, y = get_batch()
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    elapsed_min = (time.time() - t0) / 60
    return best_vloss, elapsed_min
