"""The reply parser: one row per rule in evolve/operators/reply.py's docstring, and a property test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.kinds import Rejection
from evolve.operators.reply import parse_reply

UNPARSEABLE, SYNTAX_ERROR, NO_OP = Rejection.UNPARSEABLE, Rejection.SYNTAX_ERROR, Rejection.NO_OP

PARENT = {"model.py": "x = 1\n", "train_mps.py": "y = 2\n"}
F = "```"

# (reply, expected rejection or None, expected model.py, expected train_mps.py, reason fragment)
CASES = [
    ("seeds' format", f"{F}python\nmodel.py\nx = 2\n{F}\n\n{F}python\ntrain_mps.py\n{F}\n",
     None, "x = 2\n", "y = 2\n", ""),
    ("both files", f"{F}python\nmodel.py\nx = 2\n{F}\n{F}python\ntrain_mps.py\ny = 3\n{F}",
     None, "x = 2\n", "y = 3\n", ""),
    ("comment name", f"{F}python\n# model.py\nx = 2\n{F}", None, "x = 2\n", "y = 2\n", ""),
    ("comment file: name", f"{F}python\n# file: train_mps.py\ny = 5\n{F}", None, "x = 1\n", "y = 5\n", ""),
    ("title attribute", f'{F}python title="model.py"\nx = 3\n{F}', None, "x = 3\n", "y = 2\n", ""),
    ("bare name in info", f"{F}python model.py\nx = 4\n{F}", None, "x = 4\n", "y = 2\n", ""),
    ("path keeps basename", f'{F}python title="src/model.py"\nx = 6\n{F}', None, "x = 6\n", "y = 2\n", ""),
    ("line before fence", f"Here is **train_mps.py**:\n\n{F}python\ny = 7\n{F}", None, "x = 1\n", "y = 7\n", ""),
    ("tilde fence", "~~~python\nmodel.py\nx = 8\n~~~", None, "x = 8\n", "y = 2\n", ""),
    ("long fence holds ```", f"````python\nmodel.py\ns = '''\n{F}\n'''\n````", None,
     f"s = '''\n{F}\n'''\n", "y = 2\n", ""),
    ("crlf line ends", f"{F}python\r\nmodel.py\r\nx = 9\r\n{F}\r\n", None, "x = 9\n", "y = 2\n", ""),
    ("same file twice: last non-empty wins",
     f"{F}python\nmodel.py\nx = 2\n{F}\n{F}python\nmodel.py\nx = 3\n{F}\n{F}python\nmodel.py\n{F}",
     None, "x = 3\n", "y = 2\n", ""),
    ("unknown name ignored", f"{F}python\nutils.py\nz = 1\n{F}\n{F}python\nmodel.py\nx = 2\n{F}",
     None, "x = 2\n", "y = 2\n", ""),
    ("prose only", "I think the model is fine as it is.", UNPARSEABLE, None, None, "no fenced code block"),
    ("empty reply", "", UNPARSEABLE, None, None, "no fenced code block"),
    ("unterminated fence", f"{F}python\nmodel.py\nx = 2\n", UNPARSEABLE, None, None, "never closed"),
    ("unnamed blocks only", f"{F}python\nx = 2\n{F}", UNPARSEABLE, None, None, "no block names an editable file"),
    ("only unknown names", f"{F}python\nutils.py\nz = 1\n{F}", UNPARSEABLE, None, None, "blocks named: utils.py"),
    ("syntax error", f"{F}python\nmodel.py\ndef f(:\n    pass\n{F}", SYNTAX_ERROR, None, None, "model.py line 1"),
    ("null byte", f"{F}python\nmodel.py\nx = '\0'\n{F}", SYNTAX_ERROR, None, None, "model.py"),
    ("all blocks empty", f"{F}python\nmodel.py\n{F}\n{F}python\ntrain_mps.py\n{F}", NO_OP, None, None,
     "every block is empty"),
    ("echoed template", f"{F}python\nmodel.py\n# Your modified model.py code here\n{F}", NO_OP, None, None,
     "every block is empty"),
    ("same as parent", f"{F}python\nmodel.py\nx = 1   \n\n{F}", NO_OP, None, None, "unchanged"),
]


@pytest.mark.parametrize("label, reply, rejection, model, train, reason", CASES, ids=[c[0] for c in CASES])
def test_reply_shapes(label, reply, rejection, model, train, reason):
    got = parse_reply(reply, PARENT)
    assert got.rejection == rejection, got.reason
    assert reason in got.reason
    if rejection is None:
        assert dict(got.files) == {"model.py": model, "train_mps.py": train}
        assert set(got.changed) == {n for n, t in (("model.py", model), ("train_mps.py", train)) if t != PARENT[n]}
    else:
        assert not got.files


def test_reports_ignored_names_notes_and_summary():
    reply = (f"Newton: [muon] orthogonalized updates\n\n{F}python\nutils.py\nz = 1\n{F}\n"
             f"{F}python\nmodel.py\nx = 2\n{F}\n{F}python\nmodel.py\nx = 3\n{F}\n{F}\nno name\n{F}")
    got = parse_reply(reply, PARENT)
    assert got.ok and got.files["model.py"] == "x = 3\n"
    assert got.ignored == ("utils.py",)
    assert any("given in 2 blocks" in n for n in got.notes) and any("no file name" in n for n in got.notes)
    assert got.summary == "Newton: [muon] orthogonalized updates"


def test_single_editable_file_takes_an_unnamed_block():
    got = parse_reply(f"{F}python\nx = 5\n{F}", {"solver.py": "x = 1\n"})
    assert got.ok and got.files == {"solver.py": "x = 5\n"}


def test_empty_open_fence_at_the_end_is_ignored():
    got = parse_reply(f"{F}python\nmodel.py\nx = 2\n{F}\n{F}\n", PARENT)
    assert got.ok and any("left open" in n for n in got.notes)


_pieces = st.sampled_from([F, "````", "~~~", "```python", "model.py", "# model.py", "train_mps.py",
                           'title="model.py"', "x = 1", "def f(:", "\n", "\r\n", "\0", "(" * 300, "**model.py**:"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(st.one_of(_pieces, st.text(max_size=8))).map("\n".join)))
def test_no_reply_makes_the_parser_raise(reply):
    got = parse_reply(reply, PARENT)
    assert got.rejection is None or type(got.rejection) is Rejection  # the enum member, never a bare string
    assert got.rejection in (None, UNPARSEABLE, SYNTAX_ERROR, NO_OP)
    assert got.ok == bool(got.files)
