"""`evolve data import` and `data list`, and `data prepare --level byte`: nanoGPT-format token files come
into the cache checked, hashed and whole, and every bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from scoring import data, token_import
from scoring.errors import InputError
from tests.helpers import run_cli


def _tokens(n: int, vocab: int, seed: int, dtype=np.uint16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, vocab, n).astype(dtype)


@pytest.fixture
def nanogpt(tmp_path: Path) -> Path:
    """A nanoGPT prepare.py's output: train.bin, val.bin (uint16) and meta.pkl with stoi / itos."""
    folder = tmp_path / "nanogpt"
    folder.mkdir()
    _tokens(20_000, 65, 1).tofile(folder / "train.bin")
    _tokens(2_000, 65, 2).tofile(folder / "val.bin")
    chars = [chr(32 + i) for i in range(65)]
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": 65, "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}, f)
    return folder


def _left_behind(name: str) -> list[str]:
    root = data.cache_dir() / "data"
    return sorted(p.name for p in root.iterdir() if p.name == name or p.name.startswith(f".{name}-"))


def test_import_keeps_val_carves_test_off_the_end_of_train_and_records_checksums(nanogpt):
    r = run_cli("data", "import", "ngpt", "--train", str(nanogpt / "train.bin"), "--val", str(nanogpt / "val.bin"),
                "--meta", str(nanogpt / "meta.pkl"))
    assert r.returncode == 0, r.stderr
    assert "the last 2,000 tokens of train.bin" in r.stdout
    ds = data.dataset("ngpt")
    src_train = np.fromfile(nanogpt / "train.bin", dtype=np.uint16)
    train = np.fromfile(ds.public_dir / "train.bin", dtype=np.uint16)
    test = np.fromfile(ds.test_path, dtype=np.uint16)
    assert np.array_equal(np.concatenate([train, test]), src_train) and len(test) == 2_000
    assert (ds.val_path.read_bytes() == (nanogpt / "val.bin").read_bytes())
    meta = ds.meta
    assert (meta["vocab_size"], meta["dtype"], meta["tokenizer"]) == (65, "uint16", "imported")
    assert meta["itos"][:3] == [" ", "!", '"'] and meta["sizes"] == {"train": 18_000, "val": 2_000, "test": 2_000}
    assert meta["source_sha256"]["train"] == hashlib.sha256((nanogpt / "train.bin").read_bytes()).hexdigest()
    for split, rel in data.SPLIT_FILES.items():
        assert meta["files_sha256"][split] == hashlib.sha256((ds.root / rel).read_bytes()).hexdigest()
    public = json.loads((ds.public_dir / "meta.json").read_text())
    assert public["vocab_size"] == 65 and public["dtype"] == "uint16" and "test" not in public["sizes"]
    # the training script's folder holds the public splits only
    assert sorted(p.name for p in ds.public_dir.iterdir()) == ["meta.json", "train.bin", "val.bin"]


def test_import_with_a_test_file_and_uint32_tokens_and_a_json_meta(tmp_path):
    for name, n, seed in (("train", 20_000, 1), ("val", 2_000, 2), ("test", 3_000, 3)):
        _tokens(n, 70_000, seed, np.uint32).tofile(tmp_path / f"{name}.bin")
    (tmp_path / "meta.json").write_text(json.dumps({"vocab_size": 70_000}))
    ds = token_import.import_tokens("big", tmp_path / "train.bin", tmp_path / "val.bin", tmp_path / "test.bin",
                                    tmp_path / "meta.json", dtype="uint32")
    assert ds.dtype == "uint32" and ds.meta["sizes"] == {"train": 20_000, "val": 2_000, "test": 3_000}
    assert ds.test_path.read_bytes() == (tmp_path / "test.bin").read_bytes()
    assert ds.public_dir.joinpath("train.bin").read_bytes() == (tmp_path / "train.bin").read_bytes()


def test_a_copy_that_fails_midway_leaves_nothing_in_the_cache(nanogpt, monkeypatch):
    real, calls = token_import._copy, []

    def failing(tokens, outs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(tokens, outs)

    monkeypatch.setattr(token_import, "_copy", failing)
    with pytest.raises(OSError, match="disk full"):
        token_import.import_tokens("halfway", nanogpt / "train.bin", nanogpt / "val.bin")
    assert _left_behind("halfway") == []


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_inputs(folder: Path) -> list[tuple[list[str], str]]:
    t, v = str(folder / "train.bin"), str(folder / "val.bin")
    (folder / "odd.bin").write_bytes(b"\x01" * 4001)
    _tokens(20_000, 65, 1).astype(np.uint32).tofile(folder / "train32.bin")
    with open(folder / "small.pkl", "wb") as f:
        pickle.dump({"vocab_size": 10}, f)
    with open(folder / "evil.pkl", "wb") as f:
        pickle.dump({"vocab_size": 65, "x": _Payload(folder / "ran")}, f)
    (folder / "list.json").write_text("[1, 2]")
    return [
        (["--train", str(folder / "missing.bin"), "--val", v], "token file not found"),
        (["--train", str(folder / "odd.bin"), "--val", v], "not a whole number of uint16 tokens"),
        (["--train", str(folder / "train32.bin"), "--val", v], "pass --dtype uint32"),
        (["--train", t, "--val", v, "--dtype", "uint32"], "the largest token id is 4,194,368: is --dtype right?"),
        (["--train", t, "--val", v, "--dtype", "int64"], "--dtype must be one of uint16, uint32"),
        (["--train", t, "--val", v, "--meta", str(folder / "small.pkl")], "token id 64, past the vocabulary"),
        (["--train", t, "--val", v, "--meta", str(folder / "evil.pkl")], "a pickle can run code"),
        (["--train", t, "--val", v, "--meta", str(folder / "list.json")], "expected a dict with 'vocab_size'"),
        (["--train", t, "--val", v, "--meta", str(folder / "missing.pkl")], "meta file not found"),
    ]


def test_bad_inputs_are_one_line_exit_2_and_leave_nothing(nanogpt):
    for args, message in _bad_inputs(nanogpt):
        r = run_cli("data", "import", "bad", *args)
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert (r.returncode, len(errors)) == (2, 1), (args, r.stderr)
        assert message in errors[0] and "Traceback" not in r.stderr, (args, r.stderr)
        assert _left_behind("bad") == [], args
    assert not (nanogpt / "ran").exists()  # the pickle's payload was refused, never run
    r = run_cli("data", "import", "../escape", "--train", str(nanogpt / "train.bin"), "--val", str(nanogpt / "val.bin"))
    assert r.returncode == 2 and "is not usable" in r.stderr


def test_an_existing_dataset_is_replaced_only_with_force(nanogpt):
    args = ["--train", str(nanogpt / "train.bin"), "--val", str(nanogpt / "val.bin")]
    assert run_cli("data", "import", "twice", *args).returncode == 0
    before = (data.dataset("twice").root / "meta.json").read_bytes()
    r = run_cli("data", "import", "twice", *args)
    assert r.returncode == 2 and "--force replaces it" in r.stderr
    assert (data.dataset("twice").root / "meta.json").read_bytes() == before
    r = run_cli("data", "import", "twice", *args, "--meta", str(nanogpt / "meta.pkl"), "--force")
    assert r.returncode == 0 and data.dataset("twice").meta["vocab_from"].endswith("meta.pkl")


def test_byte_level_prepare_and_the_list(tmp_path):
    blob = bytes(range(256)) * 60 + "ünïcode".encode()
    (tmp_path / "corpus.bin").write_bytes(blob)
    r = run_cli("data", "prepare", "--text", str(tmp_path / "corpus.bin"), "--level", "byte", "--name", "bytes")
    assert r.returncode == 0, r.stderr
    ds = data.dataset("bytes")
    ids = np.concatenate([np.fromfile(ds.root / rel, dtype=np.uint16) for rel in data.SPLIT_FILES.values()])
    assert bytes(ids.astype(np.uint8)) == blob and ds.meta["vocab_size"] == 256
    assert ds.meta["tokenizer"] == "byte"
    r = run_cli("data", "prepare", "--text", str(tmp_path / "corpus.bin"), "--level", "word")
    assert r.returncode == 2 and "--level must be one of char, byte" in r.stderr
    (data.cache_dir() / "data" / ".bytes-staging").mkdir()  # an interrupted build is not a dataset
    r = run_cli("data", "list", "--json")
    listed = {d["name"]: d for d in json.loads(r.stdout)}
    assert listed["bytes"]["tokenizer"] == "byte" and listed["bytes"]["vocab_size"] == 256
    assert listed["bytes"]["monitor_cut"] == data.dataset("bytes").monitor_cut  # where scoring cuts val
    assert data.BUILTIN in listed and not any(n.startswith(".") for n in listed)
    r = run_cli("data", "list")
    assert r.returncode == 0 and "bytes" in r.stdout and data.BUILTIN in r.stdout


def test_meta_reader_refuses_what_is_not_plain_data(tmp_path):
    with open(tmp_path / "m.pkl", "wb") as f:
        pickle.dump({"vocab_size": True}, f)
    with pytest.raises(InputError, match="'vocab_size' must be an integer"):
        token_import.read_meta(tmp_path / "m.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="is not a pickle"):
        token_import.read_meta(tmp_path / "junk.pkl")
