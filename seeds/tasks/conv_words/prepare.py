"""Prepare the `shakespeare_words` corpus: word-level tokens of the complete works of Shakespeare.

    python prepare.py OUT_DIR

Reads the text back from persona-evolve's built-in character dataset (`evolve data prepare` makes it) in
the cache: `$EVOLVE_CACHE/data/shakespeare_char`, else `~/Library/Caches/persona-evolve/...` on macOS, else
`${XDG_CACHE_HOME:-~/.cache}/persona-evolve/...`; its train, val and test token files, decoded with the
`chars` of its meta.json, in that order, are the whole text. Tokenizes it with one regular expression
(words with their apostrophes, numbers, single punctuation characters, newlines; spaces are dropped), keeps
the VOCAB - 1 most frequent tokens plus "<unk>" (id 0), and writes

    OUT_DIR/train.bin   the first 90% of the tokens, np.uint16
    OUT_DIR/val.bin     the last 10%
    OUT_DIR/meta.pkl    {"vocab_size": int, "itos": {int: str}, "stoi": {str: int}}

Why this corpus: a task's data must not be derivable from anything a candidate's process can read. The
cache is hidden from it; Python's own files, say, are not (they must stay readable for Python to run).
Standalone: the standard library and numpy only. The same dataset always gives the same files.
"""

import json
import os
import pickle
import re
import sys
import time
from collections import Counter

import numpy as np

VOCAB = 2048  # token ids, "<unk>" included
VAL_SHARE = 0.10
UNK = "<unk>"
TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*|\d+|\n|[^\w\s]")


def cache_root() -> str:
    if os.environ.get("EVOLVE_CACHE"):
        return os.path.expanduser(os.environ["EVOLVE_CACHE"])
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches", "persona-evolve")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "persona-evolve")


def shakespeare_text() -> str:
    folder = os.path.join(cache_root(), "data", "shakespeare_char")
    meta_path = os.path.join(folder, "meta.json")
    if not os.path.isfile(meta_path):
        sys.exit(f"error: the built-in dataset is not in {folder}: run `evolve data prepare` first")
    with open(meta_path) as f:
        chars = np.array(list(json.load(f)["chars"]))
    parts = [np.fromfile(os.path.join(folder, *rel), dtype=np.uint16)
             for rel in (("public", "train.bin"), ("public", "val.bin"), ("heldout", "test.bin"))]
    return "".join(chars[np.concatenate(parts)])


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python prepare.py OUT_DIR")
    out = sys.argv[1]
    t0 = time.perf_counter()
    tokens = TOKEN.findall(shakespeare_text())
    counts = Counter(tokens)
    kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: VOCAB - 1]
    itos = {0: UNK, **{i + 1: tok for i, (tok, _) in enumerate(kept)}}
    stoi = {tok: i for i, tok in itos.items()}
    ids = np.fromiter((stoi.get(t, 0) for t in tokens), dtype=np.uint16, count=len(tokens))
    n_train = int(len(ids) * (1 - VAL_SHARE))
    os.makedirs(out, exist_ok=True)
    ids[:n_train].tofile(os.path.join(out, "train.bin"))
    ids[n_train:].tofile(os.path.join(out, "val.bin"))
    with open(os.path.join(out, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": VOCAB, "itos": itos, "stoi": stoi}, f)
    unk = float((ids == 0).mean())
    print(f"{len(ids):,} tokens ({len(counts):,} distinct); vocabulary {VOCAB}, <unk> is {unk:.1%}")
    print(f"train.bin {n_train:,} tokens, val.bin {len(ids) - n_train:,} tokens, in {out} "
          f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
