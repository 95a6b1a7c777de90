"""A causal dilated convolutional language model over word-level tokens (the seed model campaigns evolve).

The contract with fit.py's frozen evaluation: `model(idx)` takes a (B, T) tensor of token ids and returns
logits of shape (B, T, vocab_size); the loss is computed by the frozen code, never by the model. Position
t's logits may depend only on tokens 0..t: every convolution is padded on the left only, and every other
layer acts on one position at a time. The harness checks this after training (a leak is `causal_leak`).
"""

from dataclasses import dataclass

import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ConvConfig:
    vocab_size: int = 2048
    n_embd: int = 128
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)  # receptive field 1 + (k - 1) * sum = 127 tokens
    dropout: float = 0.0


class CausalConv1d(nn.Module):
    """A Conv1d over (B, C, T) whose output at t sees inputs t - (k - 1) * dilation .. t only."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int):
        super().__init__()
        self.left = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)

    def forward(self, x):
        return self.conv(F.pad(x, (self.left, 0)))


class GatedBlock(nn.Module):
    """Pre-norm residual block: LayerNorm, causal dilated conv to 2C channels, GLU, projection, dropout."""

    def __init__(self, config: ConvConfig, dilation: int):
        super().__init__()
        c = config.n_embd
        self.norm = nn.LayerNorm(c)
        self.conv = CausalConv1d(c, 2 * c, config.kernel_size, dilation)
        self.proj = nn.Linear(c, c)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x):  # x: (B, T, C)
        h = self.conv(self.norm(x).transpose(1, 2))  # (B, 2C, T)
        h = F.glu(h, dim=1).transpose(1, 2)  # (B, T, C)
        return x + self.drop(self.proj(h))


class ConvLM(nn.Module):
    def __init__(self, config: ConvConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([GatedBlock(config, d) for d in config.dilations])
        self.norm_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # weight tying: the output head reuses the token embedding
        nn.init.normal_(self.wte.weight, mean=0.0, std=0.02)
        for block in self.blocks:
            nn.init.normal_(block.proj.weight, mean=0.0, std=0.02 / len(config.dilations) ** 0.5)
            nn.init.zeros_(block.proj.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx):
        x = self.drop(self.wte(idx))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm_f(x))
