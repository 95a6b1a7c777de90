"""A character-level recurrent language model: embedding, one GRU layer, a linear head."""

from __future__ import annotations

import torch.nn as nn


class CharGRU(nn.Module):
    def __init__(self, vocab: int, emb: int = 64, hidden: int = 128):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, batch_first=True)  # unidirectional: position t sees only 0..t
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.head(h)  # (B, T, vocab) logits
