"""`evolve data import`: a project's own token files (nanoGPT's format) become a dataset a task can name.

nanoGPT's `prepare.py` writes `train.bin` and `val.bin` (token ids, `uint16` for GPT-2 BPE or characters)
and often a `meta.pkl` holding `vocab_size` (and `stoi` / `itos` for characters). They are copied into
the cache in the layout of scoring/data.py, checked on the way (whole tokens of the dtype, every id inside
the vocabulary) and hashed (the sha256 of each source file and each split is kept in `meta.json`).

Without a test file, the held-out test split is carved off the end of `train.bin`: its last tokens, as
many as `val.bin` holds but at most a tenth of `train.bin`, become the test split, and training draws
from the rest; `val.bin` stays exactly the user's, so their validation losses stay comparable.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoring.data import SPLIT_FILES, Dataset, built, cache_dir, check_name, finish, staged
from scoring.errors import InputError

DTYPES = ("uint16", "uint32")
CHUNK_TOKENS = 1 << 22  # copied, hashed and range-checked 4 M tokens at a time: any file size fits in memory
MIN_TOKENS = 1_000  # fewer cannot fill the windows of a batch
CARVE_MAX = 0.10
MAX_INFERRED_VOCAB = 1 << 20  # without --meta, a larger id is far more likely a wrong --dtype than a vocabulary


@dataclass(frozen=True)
class Source:
    path: Path
    tokens: int
    sha256: str
    max_id: int


class _PlainUnpickler(pickle.Unpickler):
    """meta.pkl is read as data only: a pickle that names any class or function is refused, not run."""

    def find_class(self, module, name):
        raise InputError(f"meta file holds a {module}.{name} object: only plain dicts, lists, strings and "
                         "numbers are read (a pickle can run code)")


def read_meta(path: Path) -> dict:
    """`vocab_size` (and `itos` when given) from a nanoGPT `meta.pkl` or a JSON file."""
    meta = _load_meta(path)
    if not isinstance(meta, dict):
        raise InputError(f"{path} holds a {type(meta).__name__}, expected a dict with 'vocab_size'")
    vocab = meta.get("vocab_size")
    if not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 2:
        raise InputError(f"{path}: 'vocab_size' must be an integer of at least 2, got {vocab!r}")
    itos = _itos(meta.get("itos"), vocab)
    return {"vocab_size": vocab, **({"itos": itos} if itos is not None else {})}


def _load_meta(path: Path) -> object:
    """The meta file's content, read as data only; an InputError for a file that is not JSON or a plain pickle."""
    if not path.is_file():
        raise InputError(f"meta file not found: {path}")
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        with open(path, "rb") as f:
            return _PlainUnpickler(f).load()
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, UnicodeDecodeError, IndexError) as e:
        kind = "JSON" if path.suffix == ".json" else "a pickle"
        raise InputError(f"{path} is not {kind} ({type(e).__name__}: {str(e)[:100]})") from None


def _itos(itos: object, vocab: int) -> list[str] | None:
    """The id -> token strings, from a dict of ids or a list; None when it is neither."""
    if isinstance(itos, dict) and all(isinstance(k, int) and isinstance(v, str) for k, v in itos.items()):
        return [itos.get(i, "") for i in range(vocab)]
    if isinstance(itos, list) and all(isinstance(v, str) for v in itos):
        return list(itos)
    return None


def _open(path: Path, dtype: str, flag: str) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{flag}: token file not found: {path}")
    size = path.stat().st_size
    width = np.dtype(dtype).itemsize
    if size % width:
        raise InputError(f"{flag}: {path} is {size:,} bytes, not a whole number of {dtype} tokens "
                         f"({width} bytes each): is --dtype right?")
    if size // width < MIN_TOKENS:
        raise InputError(f"{flag}: {path} holds {size // width:,} tokens, need at least {MIN_TOKENS:,}")
    tokens = np.memmap(path, dtype=dtype, mode="r")
    if dtype == "uint16" and not tokens[1 : 1 << 21 : 2].any() and tokens[: 1 << 21 : 2].any():
        raise InputError(f"{flag}: every second token of {path} is 0, as in uint32 tokens read as uint16: "
                         "pass --dtype uint32")
    return tokens


def _copy(tokens: np.ndarray, outs: list[tuple[Path, int]]) -> tuple[str, int]:
    """Copy `tokens` into the files `outs` (path, token count, in order), chunk by chunk; return the sha256
    of the source bytes and the largest id."""
    h, top, start = hashlib.sha256(), 0, 0
    for path, count in outs:
        with open(path, "wb") as f:
            for lo in range(start, start + count, CHUNK_TOKENS):
                part = np.ascontiguousarray(tokens[lo : min(lo + CHUNK_TOKENS, start + count)])
                h.update(part.tobytes())
                top = max(top, int(part.max()))
                f.write(part.tobytes())
        start += count
    return h.hexdigest(), top


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def import_tokens(name: str, train: Path, val: Path, test: Path | None = None, meta: Path | None = None,
                  dtype: str = "uint16", replace: bool = False) -> Dataset:
    """Check and copy token files into the cache as dataset `name`, atomically (see the module's doc)."""
    final = _destination(name, dtype, replace)
    vocab = read_meta(meta) if meta is not None else None
    paths = {"train": train, "val": val, **({"test": test} if test is not None else {})}
    arrays = {k: _open(p, dtype, f"--{k}") for k, p in paths.items()}
    n_carve = _carve(arrays, train)
    with staged(name) as tmp:
        out = {k: tmp / rel for k, rel in SPLIT_FILES.items()}
        sources = {k: Source(paths[k].resolve(), len(arrays[k]), *_copy(arrays[k], plan))
                   for k, plan in _plans(arrays, out, n_carve).items()}
        vocab_size = _vocab_size(sources, vocab, meta)
        sizes = {"train": len(arrays["train"]) - n_carve, "val": len(arrays["val"]),
                 "test": n_carve or len(arrays["test"])}
        record = {**_record(name, dtype, vocab_size, meta, sources, n_carve), **_only(vocab or {}, "itos")}
        finish(tmp, record, sizes, {k: _file_sha256(p) for k, p in out.items()})
    return built(Dataset(name, final))


def _destination(name: str, dtype: str, replace: bool) -> Path:
    """Where the dataset goes in the cache, once the name and dtype are valid and nothing is in the way."""
    check_name(name)
    if dtype not in DTYPES:
        raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    final = cache_dir() / "data" / name
    if (final / "meta.json").is_file() and not replace:
        raise InputError(f"dataset {name!r} already exists in {final}: --force replaces it")
    return final


def _only(d: dict, *keys: str) -> dict:
    return {k: d[k] for k in keys if k in d}


def _carve(arrays: dict[str, np.ndarray], train: Path) -> int:
    """How many tokens off the end of the training file become the test split: none when one was given."""
    if "test" in arrays:
        return 0
    n_carve = min(len(arrays["val"]), int(len(arrays["train"]) * CARVE_MAX))
    if len(arrays["train"]) - n_carve < MIN_TOKENS:
        raise InputError(f"--train: {train} is too short to carve a test split from; pass --test")
    return n_carve


def _plans(arrays: dict[str, np.ndarray], out: dict[str, Path], n_carve: int) -> dict[str, list[tuple[Path, int]]]:
    """For each source file, the split files it is copied into, in order, with their token counts."""
    n_train = len(arrays["train"]) - n_carve
    plans = {"train": [(out["train"], n_train)] + ([(out["test"], n_carve)] if n_carve else []),
             "val": [(out["val"], len(arrays["val"]))]}
    if "test" in arrays:
        plans["test"] = [(out["test"], len(arrays["test"]))]
    return plans


def _vocab_size(sources: dict[str, Source], vocab: dict | None, meta: Path | None) -> int:
    """The meta file's vocabulary, or the largest id + 1; every id must lie inside it."""
    max_id = max(s.max_id for s in sources.values())
    if vocab is None and max_id >= MAX_INFERRED_VOCAB:
        raise InputError(f"the largest token id is {max_id:,}: is --dtype right? (--meta states the "
                         "vocabulary when it really is that large)")
    vocab_size = vocab["vocab_size"] if vocab else max_id + 1
    for k, s in sources.items():
        if s.max_id >= vocab_size:
            raise InputError(f"--{k}: {s.path} holds token id {s.max_id:,}, past the vocabulary "
                             f"(vocab_size {vocab_size:,} in {meta}): is --dtype right?")
    return vocab_size


def _record(name: str, dtype: str, vocab_size: int, meta: Path | None, sources: dict[str, Source],
            n_carve: int) -> dict:
    """The dataset's meta record: where each split came from, and the hashes."""
    return {
        "name": name, "tokenizer": "imported", "dtype": dtype, "vocab_size": vocab_size,
        "vocab_from": str(meta.resolve()) if meta else "the largest token id + 1",
        "source": {k: str(s.path) for k, s in sources.items()},
        "source_sha256": {k: s.sha256 for k, s in sources.items()},
        "test_split": (f"the last {n_carve:,} tokens of {sources['train'].path.name}" if n_carve
                       else f"{sources['test'].path}"),
        "sha256": hashlib.sha256("".join(s.sha256 for s in sources.values()).encode()).hexdigest(),
    }
