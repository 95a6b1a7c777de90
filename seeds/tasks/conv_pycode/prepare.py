"""Prepare the `pycode_tokens` corpus: word-level tokens of the Python standard library's own source.

    python prepare.py OUT_DIR

Reads the running Python's standard library (`sysconfig.get_paths()["stdlib"]`): its top-level modules and
package modules in sorted path order, leaving out tests, GUI and demo code, generated tables and
site-packages, until about MAX_BYTES of source. Tokenizes it with one regular expression (identifiers and
keywords, numbers, single punctuation characters, newlines, and each line's indentation as a token of its
own; other spaces are dropped), keeps the VOCAB - 1 most frequent tokens plus "<unk>" (id 0), and writes

    OUT_DIR/train.bin   the first 90% of the tokens, np.uint16
    OUT_DIR/val.bin     the last 10%
    OUT_DIR/meta.pkl    {"vocab_size": int, "itos": {int: str}, "stoi": {str: int}}

The same Python always gives the same files. Standalone: the standard library and numpy only.
"""

import os
import pickle
import re
import sys
import sysconfig
import time
from collections import Counter

import numpy as np

MAX_BYTES = 5_000_000  # source read, in whole files: the first file that reaches it is the last one
VOCAB = 2048  # token ids, "<unk>" included
VAL_SHARE = 0.10
UNK = "<unk>"

# Folders that are not ordinary library code (tests, GUIs, demos, generated tables, installed packages).
SKIP_DIRS = {"test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo", "lib2to3", "site-packages",
             "dist-packages", "lib-dynload", "__pycache__", "encodings", "pydoc_data", "ensurepip"}
SKIP_FILE = re.compile(r"_sysconfigdata.*|test_.*|.*_test\.py")

TOKEN = re.compile(
    r"^[ \t]+"  # a line's indentation, one token
    r"|\n"
    r"|[^\W\d]\w*"  # identifiers and keywords
    r"|0[xXoObB][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?[jJ]?"  # numbers
    r"|[^\w\s]",  # any other character that is not a space: punctuation, operators, quotes
    re.MULTILINE,
)


def source_files(root: str) -> list[str]:
    """Every library .py file under `root` outside SKIP_DIRS, as sorted relative paths."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("config-"))
        for name in files:
            if name.endswith(".py") and not SKIP_FILE.fullmatch(name):
                found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(found)


def read_corpus(root: str, max_bytes: int) -> tuple[str, int]:
    parts, size, n_files = [], 0, 0
    for rel in source_files(root):
        with open(os.path.join(root, rel), "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        parts.append(text if text.endswith("\n") else text + "\n")
        size += len(text)
        n_files += 1
        if size >= max_bytes:
            break
    return "".join(parts), n_files


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {os.path.basename(sys.argv[0])} OUT_DIR")
    out_dir = sys.argv[1]
    t0 = time.time()
    root = sysconfig.get_paths()["stdlib"]
    text, n_files = read_corpus(root, MAX_BYTES)
    tokens = TOKEN.findall(text)
    counts = Counter(tokens)
    # most frequent first; equal counts in string order, so the vocabulary never depends on hash order
    kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: VOCAB - 1]
    itos = {0: UNK, **{i: tok for i, (tok, _) in enumerate(kept, start=1)}}
    stoi = {tok: i for i, tok in itos.items()}
    ids = np.fromiter((stoi.get(t, 0) for t in tokens), dtype=np.uint16, count=len(tokens))
    n_val = int(len(ids) * VAL_SHARE)
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val :]

    os.makedirs(out_dir, exist_ok=True)
    train.tofile(os.path.join(out_dir, "train.bin"))
    val.tofile(os.path.join(out_dir, "val.bin"))
    with open(os.path.join(out_dir, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": len(itos), "itos": itos, "stoi": stoi}, f)

    unk_share = float(np.mean(ids == 0))
    print(f"read {n_files} files, {len(text):,} characters, from {root}")
    print(f"{len(ids):,} tokens ({len(counts):,} distinct); vocabulary {len(itos)}, <unk> is {unk_share:.1%}")
    print(f"train.bin {len(train):,} tokens, val.bin {len(val):,} tokens, in {out_dir} ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
