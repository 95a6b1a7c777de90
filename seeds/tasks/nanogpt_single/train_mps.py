"""A character-level GPT on Shakespeare and its training, in one file, under a fixed budget.

The single-file variant of the built-in task (seeds/tasks/nanogpt_shakespeare), for frameworks that
evolve one file: the model below the frozen block is that task's model.py, unchanged. The training
budget is shorter (MAX_ITERS 100 instead of 300) so that search-efficiency benchmarks fit in minutes.
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
MAX_ITERS = 10 if SMOKE else 100  # the training budget: batches drawn through get_batch()
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
from dataclasses import dataclass  # noqa: E402

import torch.nn as nn  # noqa: E402

# ---- the model: model(idx) (B, T) token ids -> (B, T, vocab_size) logits; position t sees tokens 0..t only

@dataclass
class GPTConfig:
    block_size: int = 128
    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        # query, key and value for all heads in one matmul
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # weight tying: the output head reuses the token embedding
        self.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections, so depth does not blow up the residual stream
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx):
        B, T = idx.size()
        assert T <= self.config.block_size, f"sequence of {T} exceeds block_size {self.config.block_size}"
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return self.lm_head(x)


# ---- training

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
