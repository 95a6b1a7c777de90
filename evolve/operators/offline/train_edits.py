'''Catalog edits of the built-in task's train_mps.py, all below the frozen block: schedule, optimizer,
clipping, and model size constants.
'''

from __future__ import annotations

from evolve.operators.offline.edits import edit

T = "train_mps.py"
_GET_LR = ('def get_lr(it: int) -> float:\n'
           '    """Learning rate at step `it` (constant in the seed)."""\n'
           '    return LEARNING_RATE\n')

# A decaying schedule spends its last steps at a small rate, so it needs a higher peak than the seed's
# constant rate (measured: the same schedule at the seed's 1e-3 peak loses 0.14 in val loss).
_PEAK_OLD = "LEARNING_RATE = 1e-3\n"
_PEAK_NEW = "LEARNING_RATE = 3e-3  # the schedule's peak\n"

WARMUP_COSINE = edit(
    "warmup_cosine", "schedule dynamics",
    "learning rate: warmup to a 3x higher peak, then cosine decay to a tenth of it by the end of the budget",
    [
        (T, _PEAK_OLD, _PEAK_NEW),
        (T, _GET_LR, '''WARMUP_ITERS = max(1, MAX_ITERS // 20)
MIN_LR_FRAC = 0.1


def get_lr(it: int) -> float:
    """Linear warmup, then cosine decay to MIN_LR_FRAC of the peak at the last step."""
    if it < WARMUP_ITERS:
        return LEARNING_RATE * (it + 1) / WARMUP_ITERS
    progress = (it - WARMUP_ITERS) / max(1, MAX_ITERS - WARMUP_ITERS)
    return LEARNING_RATE * (MIN_LR_FRAC + (1 - MIN_LR_FRAC) * 0.5 * (1 + math.cos(math.pi * progress)))
'''),
    ],
)

WSD = edit(
    "warmup_stable_decay", "schedule experiment",
    "learning rate: warmup to a 3x higher peak, hold it, then decay linearly to zero over the last fifth (WSD)",
    [
        (T, _PEAK_OLD, _PEAK_NEW),
        (T, _GET_LR, '''WARMUP_ITERS = max(1, MAX_ITERS // 20)
DECAY_FRAC = 0.2


def get_lr(it: int) -> float:
    """Warmup-stable-decay: linear warmup, constant peak, linear decay over the last DECAY_FRAC."""
    if it < WARMUP_ITERS:
        return LEARNING_RATE * (it + 1) / WARMUP_ITERS
    decay_start = int(MAX_ITERS * (1 - DECAY_FRAC))
    if it < decay_start:
        return LEARNING_RATE
    return LEARNING_RATE * (MAX_ITERS - it) / max(1, MAX_ITERS - decay_start)
'''),
    ],
)

ADAMW_BETAS = edit(
    "adamw_betas", "optimizer dynamics",
    "AdamW beta2 0.95: the second-moment estimate follows the fast-changing gradient scale of a short run",
    [(T, "BETA2 = 0.999\n", "BETA2 = 0.95  # a short memory for the gradient scale suits a short run\n")],
)

_ADAMW_ARGS = "        model.parameters(), lr=LEARNING_RATE, betas=(BETA1, BETA2), weight_decay=WEIGHT_DECAY\n"


def _decay_groups(params: str) -> str:
    return f'''        [
            # decay matrices only: shrinking norm gains and biases toward zero only fights the model
            {{"params": [p for p in {params} if p.ndim >= 2], "weight_decay": WEIGHT_DECAY}},
            {{"params": [p for p in {params} if p.ndim < 2], "weight_decay": 0.0}},
        ],
        lr=LEARNING_RATE, betas=(BETA1, BETA2),
'''


DECAY_MATRICES = edit(
    "decay_matrices_only", "optimizer linear-algebra",
    "AdamW weight decay only on weight matrices, not on biases and norm gains",
    [(T, _ADAMW_ARGS, _decay_groups("model.parameters()"))],
    # after the Muon edit, AdamW holds the remaining parameters only
    [(T, _ADAMW_ARGS.replace("model.parameters()", "adamw_params"), _decay_groups("adamw_params"))],
)

GRAD_CLIP = edit(
    "grad_clip", "stability dynamics",
    "gradient clipping at global norm 1.0: one bad batch cannot throw the weights far",
    [
        (T, "EVAL_INTERVAL = max(1, MAX_ITERS // 10)\n",
         "EVAL_INTERVAL = max(1, MAX_ITERS // 10)\nGRAD_CLIP = 1.0  # global gradient norm limit\n"),
        (T, "        loss.backward()\n",
         "        loss.backward()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)\n"),
    ],
)

_MUON_CLASS = '''MUON_LR = 0.02
MUON_MOMENTUM = 0.95


def orthogonalize(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately the nearest semi-orthogonal matrix to g (U V^T of its SVD), by a quintic
    Newton-Schulz iteration tuned to push all singular values toward 1 in a few steps."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + 1e-7)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Momentum whose update for each 2-D weight is orthogonalized: every direction of the matrix moves
    at the same rate, instead of the few dominant ones that plain gradients favour."""

    def __init__(self, params, lr: float = MUON_LR, momentum: float = MUON_MOMENTUM):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(p.grad)
                update = orthogonalize(p.grad + group["momentum"] * buf)  # Nesterov look-ahead
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                p.add_(update.to(p.dtype), alpha=-group["lr"] * scale)


def train():
'''

_MUON_SPLIT = '''    # Muon for the blocks' weight matrices; AdamW for embeddings, head, norms and biases
    hidden = [p for n, p in model.named_parameters() if p.ndim == 2 and n.startswith("h.")]
    adamw_params = [p for n, p in model.named_parameters() if not (p.ndim == 2 and n.startswith("h."))]
    muon = Muon(hidden)
    optimizer = torch.optim.AdamW(
'''

_MUON_COMMON = [
    (T, "def train():\n", _MUON_CLASS),
    (T, "    optimizer = torch.optim.AdamW(\n", _MUON_SPLIT),
    (T, '            group["lr"] = get_lr(it)\n',
     '            group["lr"] = get_lr(it)\n'
     '        for group in muon.param_groups:\n'
     '            group["lr"] = MUON_LR * get_lr(it) / LEARNING_RATE  # same schedule shape as AdamW\n'),
    (T, "        optimizer.zero_grad(set_to_none=True)\n",
     "        optimizer.zero_grad(set_to_none=True)\n        muon.zero_grad(set_to_none=True)\n"),
    (T, "        optimizer.step()\n", "        optimizer.step()\n        muon.step()\n"),
]

MUON = edit(
    "muon", "optimizer linear-algebra dynamics",
    "Muon: orthogonalized momentum (Newton-Schulz) for the 2-D weight matrices, AdamW for the rest",
    _MUON_COMMON + [(T, _ADAMW_ARGS, _ADAMW_ARGS.replace("model.parameters()", "adamw_params"))],
    # after decay_matrices_only, its two parameter lists are narrowed to AdamW's share
    _MUON_COMMON + [
        (T, "[p for p in model.parameters() if p.ndim >= 2]", "[p for p in adamw_params if p.ndim >= 2]"),
        (T, "[p for p in model.parameters() if p.ndim < 2]", "[p for p in adamw_params if p.ndim < 2]"),
    ],
)

DEEPER = edit("deeper", "scaling architecture", "six layers instead of four",
              [(T, "\nN_LAYER = 4\n", "\nN_LAYER = 6\n")])
MORE_HEADS = edit("more_heads", "architecture scaling", "eight attention heads of width 16 instead of four of 32",
                  [(T, "\nN_HEAD = 4\n", "\nN_HEAD = 8\n")])
WIDER = edit("wider", "scaling experiment", "embedding width 192 instead of 128",
             [(T, "\nN_EMBD = 128\n", "\nN_EMBD = 192\n")])

TRAIN_EDITS = (WARMUP_COSINE, WSD, ADAMW_BETAS, DECAY_MATRICES, GRAD_CLIP, MUON, DEEPER, MORE_HEADS, WIDER)
