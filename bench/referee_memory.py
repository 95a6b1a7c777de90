"""Memory of the referee's final-evaluation reading: the whole (rows, T, V) float64 array the referee used to
hold, against the batch-by-batch Reader (scoring/plan.py), at the shapes of the shipped tasks and of a
nanoGPT-style project with GPT-2's vocabulary.

    python bench/referee_memory.py [--smoke]

The whole array's size is computed (rows x T x V x 8 bytes: at GPT-2's vocabulary it does not fit in
memory here). The Reader is fed what the referee now receives per batch (scoring/logits.py): each position's
log-sum-exp and the logits at the ids the Reader asks for (`Reader.ids`: the target, the next tokens and the
probe columns), both computed here from a synthetic batch of log-probabilities. Its peak is measured with
tracemalloc from after that batch is dropped: the Reader's state, the batch's ids, log-sum-exps and values
and the Reader's temporaries, which is what the referee holds (the whole batch never reaches it). "Reader s"
is the time spent in Reader.ids, Reader.add and Reader.reading.
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
    reader, peak, seconds = plan.Reader(p, V), 0, 0.0
    for first, xb in p.batches():
        t0 = time.perf_counter()
        ids = reader.ids(first, len(xb))
        seconds += time.perf_counter() - t0
        logp = rng.standard_normal((len(xb), T, V), dtype=np.float32).astype(np.float64)  # not the referee's
        logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
        lse, values = np.logaddexp.reduce(logp, axis=-1), np.take_along_axis(logp, ids, 2)
        del logp
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        reader.add(first, lse, values)
        seconds += time.perf_counter() - t0
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        del ids, lse, values
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    reader.reading()
    seconds += time.perf_counter() - t0
    peak = max(peak, tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
    return len(p.x), whole, peak, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    print("| shape | T x B x batches | vocabulary | rows sent | whole array | Reader peak (one batch's ids, "
          "lse, values incl.) | ratio | Reader s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, T, B, iters, V in SMOKE if args.smoke else SHAPES:
        rows, whole, peak, seconds = measure(T, B, iters, V)
        print(f"| {name} | {T} x {B} x {iters} | {V:,} | {rows} | {whole / 2**20:,.0f} MB | {peak / 2**20:,.0f} MB "
              f"| {whole / peak:.1f}x | {seconds:.1f} |")


if __name__ == "__main__":
    main()
