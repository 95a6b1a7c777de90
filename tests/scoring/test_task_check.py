"""`evolve task check`: what it finds in a task folder, and one line per problem, each with a hint, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cli

GRU = Path(__file__).resolve().parents[1] / "tasks" / "gru_chars"


def _variant(tmp_path: Path, edits: dict[str, list[tuple[str, str]]], name: str = "variant") -> Path:
    """A copy of the gru_chars test task with each (old, new) text edit applied (each must apply)."""
    folder = tmp_path / name
    shutil.copytree(GRU, folder)
    for file, pairs in edits.items():
        path = folder / file
        text = path.read_text()
        for old, new in pairs:
            assert old in text, (file, old)
            text = text.replace(old, new, 1)
        path.write_text(text)
    return folder


def _check(folder: Path, *extra: str):
    r = run_cli("task", "check", str(folder), *extra)
    problems = [line.strip() for line in r.stderr.splitlines() if line.strip().startswith("problem")]
    return r, problems


def test_a_good_task_is_described_in_plain_words(tmp_path):
    r, problems = _check(GRU, "--no-score")
    assert (r.returncode, problems) == (0, []), r.stderr
    for found in ("frozen block: run.py lines 8-63", "SEQ_LEN (line 21)", "batch function: sample_batch() at line 45",
                  "evaluation function: val_loss(model) at line 51", "entry: run.py:fit() at line 74",
                  "dataset shakespeare_char: prepared", "budget: STEPS = 200 (smoke 6) training batches",
                  "EVAL_CAP = 8 evaluations", "BATCH = 16 windows of SEQ_LEN = 48 tokens", "device: DEV = 'cpu'",
                  "ids 0..", "y is x shifted by one", "val_loss(model) on uniform logits: 4.4308"):
        assert found in r.stdout, (found, r.stdout)
    assert "no problems found" in r.stdout
    report = json.loads(run_cli("task", "check", str(GRU), "--no-score", "--json").stdout)
    assert report["problems"] == 0 and report["task"] == "gru_chars" and report["seed_score"] is None


@pytest.mark.parametrize("edits, message, hint", [
    ({"run.py": [("FROZEN-START", "START"), ("FROZEN-STOP", "STOP")]},
     "markers ('FROZEN-START' / 'FROZEN-STOP') must each appear exactly once in run.py",
     "put a comment line containing '# FROZEN-START'"),
    ({"task.toml": [('"VOCAB",', '"VOCAB", "NOPE",')]},
     "frozen name 'NOPE' is listed in task.toml but the frozen block never defines it", "define NOPE between"),
    ({"task.toml": [('"_cut"]', '"_cut", "_gone"]')]}, "private name '_gone' is listed", "[frozen] private"),
    ({"run.py": [("def sample_batch():", "def sample_batch(n):")]},
     "batch function sample_batch takes 1 required arguments", "make it `def sample_batch()`"),
    ({"run.py": [("def fit():", "def fit_model():")]}, "run.py defines no top-level function 'fit'",
     "def fit():"),
    ({"task.toml": [('dataset = "shakespeare_char"', 'dataset = "not_here"')]},
     "dataset 'not_here' is not prepared", "evolve data import not_here --train"),
    ({"run.py": [("# ---- FROZEN-START", "import sys\n# ---- FROZEN-START")]},
     "the seed breaks its own frozen protocol: run.py line 7: only a docstring and comments may come before",
     "the seed must pass the checks every candidate gets"),
    ({"run.py": [('    VOCAB = json.load(_f)["vocab_size"]', "    VOCAB = 40")]},
     "VOCAB is 40 but dataset shakespeare_char has 84 tokens", "read the vocabulary size"),
    ({"run.py": [("SEQ_LEN = 48", "SEQ_LEN = 48.5")]}, "SEQ_LEN is 48.5 after the frozen block runs",
     "set SEQ_LEN to an int"),
    ({"run.py": [('np.memmap(os.path.join(DATA_ROOT, "train.bin")', 'np.memmap(os.path.join(DATA_ROOT, "nope.bin")')]},
     "the frozen block fails when run: FileNotFoundError", "run the frozen block by hand"),
    ({"net.py": [("import", "imprt", )]}, "net.py line", "fix it, then check again"),
])
def test_each_problem_is_one_line_with_a_hint_and_exit_2(tmp_path, edits, message, hint):
    r, problems = _check(_variant(tmp_path, edits), "--no-score")
    assert r.returncode == 2, r.stdout + r.stderr
    assert len(problems) >= 1 and any(message in p and hint in p for p in problems), problems
    assert "Traceback" not in r.stderr


def test_an_evaluation_that_needs_whole_logits_is_named_and_still_works(tmp_path):
    """A frozen evaluation whose loss is not F.cross_entropy on a (N, V) view: the referee fetches its batches'
    logits whole (scoring/remote.py), which the check says; the loss of a uniform model is still ln(V)."""
    cross_entropy = "F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1)).item()"
    by_hand = "(-torch.log_softmax(logits.float(), -1).gather(2, y[..., None]).mean().item())"
    edits = {"run.py": [(cross_entropy, by_hand)]}
    r, problems = _check(_variant(tmp_path, edits), "--no-score")
    assert (r.returncode, problems) == (0, []), r.stderr
    assert "val_loss(model) on uniform logits: 4.4308" in r.stdout
    assert "fetches whole batches of logits rather than two numbers a position" in r.stdout
    plain, _ = _check(GRU, "--no-score")
    assert "fetches whole batches" not in plain.stdout


def test_shapes_too_large_for_the_referee_are_a_problem_naming_the_figure_and_the_limit():
    from scoring import data, task_check
    from scoring.task import load_task

    task = load_task(GRU)
    fz = task.frozen
    values = {fz.budget_name: 10, fz.max_evals_name: 2, fz.context_name: 65536, fz.batch_size_name: 1,
              fz.vocab_name: 50304, fz.eval_iters_name: 1, fz.device_name: "cpu"}
    rep = task_check.Report(str(GRU), [])
    ran = {"values": values, "batch_function": {"error": "not run here"}, "eval_function": {}}
    task_check._check_run(rep, task, {"full": ran, "smoke": {"values": values}}, data.dataset(task.dataset))
    assert any(f.problem and "block size 65536 x vocabulary 50304" in f.text and "2,147,483,648" in f.hint
               for f in rep.findings), rep.findings


def test_several_problems_are_all_reported(tmp_path):
    folder = _variant(tmp_path, {"task.toml": [('"VOCAB",', '"VOCAB", "NOPE",'),
                                               ('dataset = "shakespeare_char"', 'dataset = "not_here"')],
                                 "run.py": [("def fit():", "def fit_model():")]})
    r, problems = _check(folder, "--no-score")
    assert r.returncode == 2 and len(problems) == 3, problems
    assert "3 problems" in r.stderr


def test_a_folder_that_is_not_a_task_is_one_problem(tmp_path):
    for folder, message in ((tmp_path / "absent", "task folder not found"), (tmp_path, "it has no task.toml")):
        r, problems = _check(folder)
        assert r.returncode == 2 and len(problems) == 1 and message in problems[0], r.stderr


@pytest.mark.slow
def test_the_seed_is_scored_and_a_leaking_seed_is_a_problem(tmp_path):
    leaky = _variant(tmp_path, {"net.py": [("nn.GRU(emb, hidden, batch_first=True)",
                                            "nn.GRU(emb, hidden // 2, batch_first=True, bidirectional=True)")]})
    r, problems = _check(leaky, "--json")
    report = json.loads(r.stdout)
    assert r.returncode == 2 and report["seed_score"]["status"] == "causal_leak", r.stdout
    assert [f["topic"] for f in report["findings"] if f["problem"]] == ["seed score"]


def test_a_model_that_cannot_be_snapshot_is_explained(tmp_path):
    """The final evaluation loads the trained model in fresh processes: a model object that does not pickle
    (here a lambda kept on it) is a problem whose line says why."""
    anchor = "    net = CharGRU(VOCAB).to(DEV)\n"
    unpicklable = _variant(tmp_path, {"run.py": [(anchor, anchor + "    net.log = lambda s: print(s)\n")]})
    r, problems = _check(unpicklable)
    assert r.returncode == 2, r.stdout
    assert len(problems) == 1 and "could not be saved for the final evaluation" in problems[0], problems
    assert "must pickle" in problems[0]
