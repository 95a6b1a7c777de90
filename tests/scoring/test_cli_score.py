"""`evolve score` as a user runs it: JSON on stdout, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import TASK_DIR
from tests.helpers import run_cli


def test_score_seed_smoke_json_is_ok():
    r = run_cli("score", str(TASK_DIR), "--smoke", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "ok"
    assert result["best_vloss"] > 0 and result["test_loss"] > 0 and result["steps"] == 10


def test_files_from_scores_another_folder_against_the_task(tmp_path, task):
    (tmp_path / "model.py").write_text(task.seed_files["model.py"].replace("is_causal=True", "is_causal=False"))
    r = run_cli("score", str(TASK_DIR), "--smoke", "--files-from", str(tmp_path), "--keep", str(tmp_path / "run"))
    assert r.returncode == 1
    assert "causal_leak" in r.stdout
    assert (tmp_path / "run" / "stdout.log").is_file()


def test_constraint_violation_from_files_from(tmp_path, task):
    (tmp_path / "train_mps.py").write_text(task.seed_files["train_mps.py"].replace("BATCH_SIZE = 32", "BATCH_SIZE = 8"))
    r = run_cli("score", str(TASK_DIR), "--smoke", "--json", "--files-from", str(tmp_path))
    assert r.returncode == 1
    assert json.loads(r.stdout)["status"] == "constraint_violation"


def test_bad_task_folders_are_one_line_errors(tmp_path):
    r = run_cli("score", str(tmp_path / "missing"))
    assert (r.returncode, r.stderr.strip()) == (2, f"error: task folder not found: {tmp_path / 'missing'}")
    r = run_cli("score", str(tmp_path))
    assert r.returncode == 2 and "has no task.toml" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "task.toml").write_text((TASK_DIR / "task.toml").read_text() + "\nsurprise = 1\n")
    r = run_cli("score", str(bad))
    assert r.returncode == 2 and "unknown key 'surprise'" in r.stderr
    assert "Traceback" not in r.stderr


def test_files_from_an_empty_folder_is_an_input_error(tmp_path):
    r = run_cli("score", str(TASK_DIR), "--files-from", str(tmp_path))
    assert r.returncode == 2 and "holds none of the task's files" in r.stderr


def test_json_names_log_files_only_where_they_are_kept(tmp_path, task):
    """Without --keep the run folder is removed, so --json gives no path into it (null); with --keep the
    paths are the kept files. A candidate that crashes on import is the quickest real run."""
    (tmp_path / "crash").mkdir()
    (tmp_path / "crash" / "model.py").write_text('raise RuntimeError("boom")\n')
    args = ("score", str(TASK_DIR), "--smoke", "--json", "--files-from", str(tmp_path / "crash"))
    gone = json.loads(run_cli(*args).stdout)
    assert gone["status"] == "crashed" and gone["stdout_path"] is None and gone["stderr_path"] is None, gone
    kept = json.loads(run_cli(*args, "--keep", str(tmp_path / "run")).stdout)
    assert kept["stdout_path"] == str(tmp_path / "run" / "stdout.log")
    assert Path(kept["stdout_path"]).is_file() and Path(kept["stderr_path"]).is_file()
    assert "null" in " ".join(run_cli("score", "--help", env={"COLUMNS": "200"}).stdout.split())
