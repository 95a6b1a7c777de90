"""Memory of the referee's final-evaluation reading: the whole (rows, T, V) float64 array the referee used to
hold, against the batch-by-batch Reader (scoring/plan.py), at the shapes of the shipped tasks and of a
nanoGPT-style project with GPT-2's vocabulary.

    python bench/referee_memory.py [--smoke]

The whole array's size is computed (rows x T x V x 8 bytes: at GPT-2's vocabulary it does not fit in
memory here); the Reader's peak is measured with tracemalloc while it is fed one batch of log-probabilities
at a time, the batch itself included.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring import plan  # noqa: E402

SHAPES = [  # name, context T, batch B, evaluation batches, vocabulary
    ("nanogpt_shakespeare (built-in)", 64, 32, 8, 84),
    ("conv_words (second task)", 64, 16, 8, 2048),
    ("nanoGPT-style, GPT-2 BPE", 256, 12, 8, 50257),
]
SMOKE = [("tiny", 16, 4, 2, 300)]


def measure(T: int, B: int, iters: int, V: int) -> tuple[int, int, int, float]:
    rng = np.random.default_rng(0)
    need = 2 * iters * B * (T + 1) * 4 + 10 * T
    val, test = (rng.integers(0, V, need).astype(np.uint32) for _ in range(2))
    p = plan.build(val, test, T, B, iters)
    whole = len(p.x) * T * V * 8
    tracemalloc.start()
    t0 = time.perf_counter()
    reader = plan.Reader(p, V)
    for first, xb in p.batches():
        logits = rng.standard_normal((len(xb), T, V), dtype=np.float32).astype(np.float64)
        logits -= np.log(np.exp(logits).sum(-1, keepdims=True))
        reader.add(first, logits)
        del logits
    reader.reading()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(p.x), whole, peak, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    print("| shape | T x B x batches | vocabulary | rows sent | whole array | Reader peak (one batch incl.) "
          "| ratio | Reader s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, T, B, iters, V in SMOKE if args.smoke else SHAPES:
        rows, whole, peak, seconds = measure(T, B, iters, V)
        print(f"| {name} | {T} x {B} x {iters} | {V:,} | {rows} | {whole / 2**20:,.0f} MB | {peak / 2**20:,.0f} MB "
              f"| {whole / peak:.1f}x | {seconds:.1f} |")


if __name__ == "__main__":
    main()
