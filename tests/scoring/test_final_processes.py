"""The final evaluation runs in two fresh processes started from a snapshot of the trained model: what one
of them stores (in the model object, in a module, in any file it can reach) is not there in the next."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from scoring import confine, final
from scoring.api import score
from scoring.result import CRASHED, OK

# In the final evaluation's processes only (their __main__ is scoring.evaluator), the model looks for what an
# earlier process could have left, then leaves all it can: an attribute of itself, a module global, and a
# marker file in every folder it might write to. One line per process says what it found and wrote.
STATEFUL_FORWARD = '''
    def forward(self, idx):
        import glob, os, sys, uuid
        main = getattr(sys.modules.get("__main__"), "__spec__", None)
        if not self.training and main is not None and main.name == "scoring.evaluator":
            global _LEFT
            if not getattr(self, "_looked", False):
                self._looked = True
                places = [os.getcwd(), "/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~")]
                found = sorted(f for p in places for f in glob.glob(os.path.join(p, "final-marker-*")))
                wrote = []
                for p in places:
                    try:
                        with open(os.path.join(p, "final-marker-" + uuid.uuid4().hex), "w") as f:
                            f.write("x")
                        wrote.append(p)
                    except OSError:
                        pass
                print("FINALSTATE", {"found": found, "wrote": wrote, "carried": list(self.carried),
                                     "module": globals().get("_LEFT")}, flush=True)
                self.carried.append(os.getpid())
                _LEFT = "left by an earlier final process"
        return self._plain_forward(idx)
'''


def _stateful(task) -> dict[str, str]:
    text = task.seed_files["model.py"]
    anchor = "    def forward(self, idx):"
    assert text.count(anchor) == 1
    text = text.replace(anchor, STATEFUL_FORWARD + "\n    def _plain_forward(self, idx):")
    init = "        self.wte = nn.Embedding("
    assert text.count(init) == 1
    text = text.replace(init, "        self.carried = []\n" + init, 1)
    return {"model.py": text}


def _lines(root: Path) -> list[dict]:
    found = []
    for k in (0, 1):
        for line in (root / f"final-{k}.stdout.log").read_text().splitlines():
            if line.startswith("FINALSTATE "):
                found.append(ast.literal_eval(line.removeprefix("FINALSTATE ")))
    return found


def test_state_left_by_one_final_process_is_not_there_in_the_next(task, tmp_path):
    if not confine.namespace_prefix():  # without namespaces the two processes could share a file (RELIABILITY.md)
        msg = "needs Linux user namespaces without root (unshare), not available on this host"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {msg}")
        pytest.skip(msg)
    honest = score({}, task, smoke=True)
    r = score(_stateful(task), task, smoke=True, workdir=tmp_path)
    assert r.status == OK, r.reason
    assert r.best_vloss == honest.best_vloss  # the forward pass itself is the seed's
    first, second = _lines(tmp_path)
    assert first["carried"] == [] and first["module"] is None
    # the second process starts from the same snapshot: nothing the first stored is there
    assert second["carried"] == [] and second["module"] is None
    assert second["found"] == []
    assert "/dev/shm" in first["wrote"]  # a scratch space in memory, private to each process
    assert "/var/tmp" not in first["wrote"] + second["wrote"]
    assert str(tmp_path / "run") not in first["wrote"] + second["wrote"]  # the run folder is read-only to them


def test_a_model_that_cannot_be_pickled_is_named_not_scored(task):
    files = {"train_mps.py": task.seed_files["train_mps.py"].replace(
        "    best_vloss = math.inf\n", "    best_vloss = math.inf\n    model.hook = lambda: None\n", 1)}
    assert files["train_mps.py"] != task.seed_files["train_mps.py"]
    r = score(files, task, smoke=True)
    assert r.status == CRASHED and "could not be saved for the final evaluation" in r.reason, r.reason


def test_what_a_final_process_says_of_its_failure_keeps_no_text_it_was_sent(task, tmp_path):
    """The model, in a final process, raises with the characters of the held-out window it was sent: the
    verdict names the failure and the exception's kind, the message stays in the process's own log."""
    text = task.seed_files["model.py"]
    anchor = "    def forward(self, idx):\n"
    assert text.count(anchor) == 1
    leak = anchor + ('        import sys\n'
                     '        main = getattr(sys.modules.get("__main__"), "__spec__", None)\n'
                     '        if main is not None and main.name == "scoring.evaluator":\n'
                     '            raise RuntimeError("WINDOW<" + ",".join(map(str, idx[0, :8].tolist())) + ">")\n')
    r = score({"model.py": text.replace(anchor, leak)}, task, smoke=True, workdir=tmp_path)
    assert r.status == CRASHED and "WINDOW<" not in r.reason and "WINDOW<" not in r.log_tail, r.reason
    assert r.reason.startswith("the model failed on a final evaluation batch: RuntimeError"), r.reason
    assert any("WINDOW<" in p.read_text() for p in tmp_path.rglob("final-*.stderr.log"))


def test_a_final_process_reason_keeps_only_a_known_opening_and_a_builtin_exception_name():
    assert final.kept("the model failed on a final evaluation batch: ValueError: ROMEO: what") == (
        "the model failed on a final evaluation batch: ValueError (its message is left out here, kept in the "
        "run's final-*.stderr.log: the process may have seen held-out windows)")
    assert final.kept("ORSINO. If music be the food of love: play on").startswith(
        "a final evaluation process failed: an exception (")
    assert "Orsino" not in final.kept(f"{final.OPENINGS[0]}: OrsinoIfMusicBeTheFoodOfLove: x")
