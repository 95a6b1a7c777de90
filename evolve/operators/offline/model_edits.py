'''Catalog edits of the built-in task's model.py (a small GPT): norms, positions, activations, init, head.

Each edit keeps the model causal (nothing mixes information across positions except the causal
attention) and leaves train_mps.py's frozen block alone.
'''

from __future__ import annotations

from evolve.operators.offline.edits import edit

M = "model.py"
_ATTN_CLASS = "class CausalSelfAttention(nn.Module):\n"
_MLP_CLASS = "class MLP(nn.Module):\n"
_BLOCK_CLASS = "class Block(nn.Module):\n"

RMSNORM = edit(
    "rmsnorm", "normalization stability",
    "RMSNorm instead of LayerNorm: scale by the root mean square only, no mean subtraction and no bias",
    [
        (M, _BLOCK_CLASS, '''class RMSNorm(nn.Module):
    """Root-mean-square norm: rescales each vector to unit RMS, then applies a learned gain."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


''' + _BLOCK_CLASS),
        (M, "        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)\n",
         "        self.ln_1 = RMSNorm(config.n_embd)\n"),
        (M, "        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)\n",
         "        self.ln_2 = RMSNorm(config.n_embd)\n"),
        (M, "        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)\n",
         "        self.ln_f = RMSNorm(config.n_embd)\n"),
    ],
)

ROPE = edit(
    "rope", "positional linear-algebra",
    "rotary position embeddings on queries and keys instead of a learned position table",
    [
        (M, _ATTN_CLASS, '''class Rotary(nn.Module):
    """Rotary position embedding: rotates channel pairs of q and k by position-dependent angles, so the
    attention score q.k depends on the relative offset of the two positions only."""

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.outer(torch.arange(max_len).float(), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x):  # x: (B, n_head, T, head_dim)
        T, half = x.size(-2), x.size(-1) // 2
        cos, sin = self.cos[:T], self.sin[:T]
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


''' + _ATTN_CLASS),
        (M, "        self.resid_dropout = nn.Dropout(config.dropout)\n",
         "        self.resid_dropout = nn.Dropout(config.dropout)\n"
         "        self.rotary = Rotary(config.n_embd // config.n_head, config.block_size)\n"),
        (M, "        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)\n",
         "        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)\n"
         "        q, k = self.rotary(q), self.rotary(k)\n"),
        (M, "        self.wpe = nn.Embedding(config.block_size, config.n_embd)\n",
         "        # no learned position table: positions enter through the rotary embedding in attention\n"),
        (M, "        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)\n"
            "        x = self.drop(self.wte(idx) + self.wpe(pos))\n",
         "        x = self.drop(self.wte(idx))\n"),
    ],
)

_MLP_INIT = ("        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)\n"
             "        self.gelu = nn.GELU()\n"
             "        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)\n")
_MLP_FORWARD = "        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))\n"

RELU2 = edit(
    "relu2", "activation",
    "ReLU squared in the MLP instead of GELU: sparse activations with a smooth, growing response",
    [
        (M, "        self.gelu = nn.GELU()\n", "        # activation: ReLU squared, see forward\n"),
        (M, _MLP_FORWARD, "        return self.dropout(self.c_proj(F.relu(self.c_fc(x)).square()))\n"),
    ],
)

SWIGLU = edit(
    "swiglu", "activation architecture",
    "SwiGLU MLP: a SiLU-gated linear unit, hidden width 8/3 of the embedding to keep the parameter count",
    [
        (M, _MLP_INIT, '''        # SwiGLU: half of c_fc's output gates the other; 8/3 n_embd keeps a 4x MLP's size
        hidden = 32 * math.ceil(8 * config.n_embd / 3 / 32)
        self.c_fc = nn.Linear(config.n_embd, 2 * hidden, bias=config.bias)
        self.c_proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
'''),
        (M, _MLP_FORWARD, "        gate, value = self.c_fc(x).chunk(2, dim=-1)\n"
                          "        return self.dropout(self.c_proj(F.silu(gate) * value))\n"),
    ],
)

QK_NORM = edit(
    "qk_norm", "normalization stability",
    "QK-norm: queries and keys scaled to unit RMS per head, so attention logits cannot blow up",
    [
        (M, "        y = F.scaled_dot_product_attention(\n",
         "        # QK-norm: bounded attention logits whatever the scale of the residual stream\n"
         "        q = q * torch.rsqrt(q.pow(2).mean(-1, keepdim=True) + 1e-6)\n"
         "        k = k * torch.rsqrt(k.pow(2).mean(-1, keepdim=True) + 1e-6)\n"
         "        y = F.scaled_dot_product_attention(\n"),
    ],
)

UNTIE_HEAD = edit(
    "untie_head", "architecture",
    "untied output head: the logits get their own matrix instead of the transposed token embedding",
    [
        (M, "        # weight tying: the output head reuses the token embedding\n"
            "        self.wte.weight = self.lm_head.weight\n",
         "        # untied: the output head has its own weights, the embedding is free to serve the input only\n"),
    ],
)

ZERO_INIT_PROJ = edit(
    "zero_init_proj", "initialization stability",
    "zero-initialized residual projections: every block starts as the identity and grows from there",
    [
        (M, "        # GPT-2's scaled init of the residual projections, so depth does not blow up the residual stream\n"
            "        for name, p in self.named_parameters():\n"
            "            if name.endswith(\"c_proj.weight\"):\n"
            "                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))\n",
         "        # residual projections start at zero: each block is the identity at step 0 (stable at any depth)\n"
         "        for name, p in self.named_parameters():\n"
         "            if name.endswith(\"c_proj.weight\"):\n"
         "                nn.init.zeros_(p)\n"),
    ],
)

SOFTCAP = edit(
    "logit_softcap", "stability",
    "logit soft-capping: 15 * tanh(logits / 15) keeps the output logits bounded and smooth",
    [
        (M, "        x = self.ln_f(x)\n        return self.lm_head(x)\n",
         "        x = self.ln_f(x)\n"
         "        # soft cap: logits stay within +-15, which keeps early training from over-confident spikes\n"
         "        logits = self.lm_head(x)\n"
         "        return 15.0 * torch.tanh(logits / 15.0)\n"),
    ],
)

MODEL_EDITS = (RMSNORM, ROPE, RELU2, SWIGLU, QK_NORM, UNTIE_HEAD, ZERO_INIT_PROJ, SOFTCAP)
