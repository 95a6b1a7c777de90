"""Train a causal convolutional language model on word-level tokens of Shakespeare, under a fixed budget.

`run()` returns `(best_vloss, elapsed_min)`. The block between the PROTOCOL markers fixes the data, the
split, the vocabulary, the context and batch size, the training budget, the evaluation protocol, the seed
and the device; the harness checks that it is unchanged. Everything below it is yours to change.
"""

# ==================== PROTOCOL BEGIN: data, budget and evaluation (checked by the harness) ====================
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

# The only three settings the harness overrides, and only through these variables.
SEED = int(os.environ.get("EVOLVE_SEED", "1337"))
SMOKE = os.environ.get("EVOLVE_SMOKE", "0") == "1"
TOKEN_DIR = os.environ.get("EVOLVE_DATA_DIR") or os.path.join(
    os.path.expanduser("~"), ".cache", "persona-evolve", "data", "shakespeare_words", "public"
)

CONTEXT = 64  # tokens per window
N_SEQ = 16  # windows per training batch (and per evaluation batch)
TRAIN_STEPS = 8 if SMOKE else 600  # the training budget: batches drawn through draw_batch()
VAL_BATCHES = 1 if SMOKE else 8  # fixed validation batches averaged by held_out_loss()
EVAL_LIMIT = 12  # held_out_loss() calls allowed in one run()

TARGET_DEVICE = "mps" if torch.backends.mps.is_available() else "cuda" if torch.cuda.is_available() else "cpu"

torch.manual_seed(SEED)
np.random.seed(SEED)

# The vocabulary size and the token files' dtype come from the metadata, never from the tokens themselves.
with open(os.path.join(TOKEN_DIR, "meta.json")) as _meta_file:
    _meta = json.load(_meta_file)
N_TOKENS = int(_meta["vocab_size"])
TOKEN_DTYPE = str(_meta["dtype"])
_train_ids = np.memmap(os.path.join(TOKEN_DIR, "train.bin"), dtype=TOKEN_DTYPE, mode="r")
_val_ids = np.memmap(os.path.join(TOKEN_DIR, "val.bin"), dtype=TOKEN_DTYPE, mode="r")
_draw_rng = np.random.default_rng(SEED)
# The validation windows are the same for every seed and every candidate, so losses are comparable.
_val_starts = np.random.default_rng(0).integers(0, len(_val_ids) - CONTEXT - 1, (VAL_BATCHES, N_SEQ))


def _slice_windows(ids, starts):
    x = np.stack([ids[s : s + CONTEXT] for s in starts]).astype(np.int64)
    y = np.stack([ids[s + 1 : s + 1 + CONTEXT] for s in starts]).astype(np.int64)
    return torch.from_numpy(x).to(TARGET_DEVICE), torch.from_numpy(y).to(TARGET_DEVICE)


def draw_batch():
    """The next training batch (x, y): N_SEQ random windows, y is x shifted by one token."""
    return _slice_windows(_train_ids, _draw_rng.integers(0, len(_train_ids) - CONTEXT - 1, N_SEQ))


@torch.no_grad()
def held_out_loss(model):
    """Mean cross-entropy of model(x)'s logits on the fixed validation batches: the fitness."""
    was_training = model.training
    model.eval()
    losses = []
    for starts in _val_starts:
        x, y = _slice_windows(_val_ids, starts)
        logits = model(x)
        losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1)).item())
    model.train(was_training)
    return sum(losses) / len(losses)


# ==================== PROTOCOL END ====================

import math  # noqa: E402
import time  # noqa: E402

from convnet import ConvConfig, ConvLM  # noqa: E402

# model
N_EMBD = 128
KERNEL_SIZE = 3
DILATIONS = (1, 2, 4, 8, 16, 32)
DROPOUT = 0.0

# optimizer
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 0.01
BETA1 = 0.9
BETA2 = 0.99
GRAD_CLIP = 1.0

EVAL_EVERY = max(1, TRAIN_STEPS // 8)  # 9 evaluations, within EVAL_LIMIT, at the full budget and in a smoke run


def get_lr(step: int) -> float:
    """Learning rate at `step`: constant in the seed."""
    return LEARNING_RATE


def run():
    t0 = time.time()
    config = ConvConfig(vocab_size=N_TOKENS, n_embd=N_EMBD, kernel_size=KERNEL_SIZE, dilations=DILATIONS,
                        dropout=DROPOUT)
    model = ConvLM(config).to(TARGET_DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(BETA1, BETA2),
                                  weight_decay=WEIGHT_DECAY)
    print(f"{model.num_params() / 1e6:.2f}M parameters on {TARGET_DEVICE}, {TRAIN_STEPS} steps")

    best_vloss = math.inf
    for step in range(TRAIN_STEPS + 1):
        if step % EVAL_EVERY == 0 or step == TRAIN_STEPS:
            vloss = held_out_loss(model)
            best_vloss = min(best_vloss, vloss)
            print(f"step {step}: val loss {vloss:.4f}")
        if step == TRAIN_STEPS:
            break
        for group in optimizer.param_groups:
            group["lr"] = get_lr(step)
        x, y = draw_batch()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if GRAD_CLIP:
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()

    elapsed_min = (time.time() - t0) / 60
    return best_vloss, elapsed_min
