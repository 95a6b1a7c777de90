"""Edit replies (issue 31): SEARCH/REPLACE blocks parsed and applied, every way they fail named, and the
offline operator, the prompts and the loopback server speaking the format."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve import config as cfgmod
from evolve.kinds import Rejection, ReplyFormat
from evolve.operators import unhelpful
from evolve.operators.context import Parent, Request
from evolve.operators.edits import Edit, apply_edits, edit_block, edits_between, parse_edits
from evolve.operators.offline.operator import respond
from evolve.operators.prompts import crossover, mutate, repair, reply_format
from evolve.operators.reply import parse_reply
from evolve.operators.server import LoopbackHTTPServer
from evolve.screen import screen
from scoring.errors import InputError

F = "```"
MODEL = ("import torch\n\n\nclass Net:\n    def __init__(self):\n        self.width = 128\n        self.depth = 4\n\n"
         "    def forward(self, x):\n        x = x + 1\n        return x\n\n    def loss(self, x):\n        x = x + 1\n"
         "        return x\n")
TRAIN = "LR = 1e-3\nSTEPS = 300\n"
PARENT = {"model.py": MODEL, "train_mps.py": TRAIN}


def _edits(name: str, *pairs: tuple[str, str], before: str = "A change.\n\n") -> str:
    return before + edit_block(name, [Edit(tuple(s.split("\n")), tuple(r.split("\n"))) for s, r in pairs]) + "\n"


def test_an_exact_edit_changes_only_its_lines_and_the_other_file_stays():
    got = parse_reply(_edits("model.py", ("        self.width = 128", "        self.width = 256")), PARENT)
    assert got.ok, got.reason
    assert got.files["model.py"] == MODEL.replace("width = 128", "width = 256")
    assert got.files["train_mps.py"] == TRAIN and got.changed == ("model.py",)
    assert got.summary == "A change." and any("1 edits applied (0 with whitespace" in n for n in got.notes)


def test_edits_apply_in_order_each_to_the_text_the_one_before_left():
    reply = _edits("model.py", ("        self.width = 128", "        self.width = 256\n        self.heads = 8"),
                   ("        self.heads = 8", "        self.heads = 4"))
    got = parse_reply(reply, PARENT)
    assert got.ok and "self.width = 256\n        self.heads = 4\n        self.depth" in got.files["model.py"]


def test_whitespace_and_indentation_differences_are_tolerated_and_the_replacement_reindented():
    # the model dropped the class's indentation and doubled a space: found, and the new lines shifted back
    reply = _edits("model.py", ("def forward(self,  x):\n    x = x + 1\n    return x",
                                "def forward(self, x):\n    x = x * 2\n    return x"))
    got = parse_reply(reply, PARENT)
    assert got.ok, got.reason
    assert "    def forward(self, x):\n        x = x * 2\n        return x\n\n    def loss" in got.files["model.py"]
    assert any("(1 with whitespace tolerated)" in n for n in got.notes)


def test_a_search_found_in_two_places_is_refused_naming_the_file_the_edit_and_the_places():
    got = parse_reply(_edits("model.py", ("        self.width = 128", "        self.width = 64"),
                             ("        x = x + 1\n        return x", "        return x")), PARENT)
    assert got.rejection is Rejection.EDIT_MISMATCH and not got.files
    assert got.reason == ("model.py, edit 2: its SEARCH text matches 2 places (lines 10, 14); quote more lines so "
                          "that it matches one")


def test_a_search_found_nowhere_is_refused_with_the_nearest_text():
    got = parse_reply(_edits("model.py", ("        self.depth = 6", "        self.depth = 8")), PARENT)
    assert got.rejection is Rejection.EDIT_MISMATCH
    assert got.reason == ('model.py, edit 1: its SEARCH text matches nothing; nearest: line 7 reads '
                          '"self.depth = 4" where the SEARCH has "self.depth = 6"')


def test_an_edit_for_a_file_that_is_not_editable_is_refused_saying_where_its_text_is():
    got = parse_reply(_edits("helpers.py", ("LR = 1e-3", "LR = 3e-4")), PARENT)
    assert got.rejection is Rejection.EDIT_MISMATCH
    assert got.reason == ("edit block 1 names helpers.py, not an editable file (model.py, train_mps.py); its first "
                          "SEARCH text is found in train_mps.py")


def test_an_unnamed_edit_block_belongs_to_the_one_file_where_it_applies():
    reply = f"{F}python\n<<<<<<< SEARCH\nSTEPS = 300\n=======\nSTEPS = 600\n>>>>>>> REPLACE\n{F}\n"
    got = parse_reply(reply, PARENT)
    assert got.ok and got.files["train_mps.py"] == "LR = 1e-3\nSTEPS = 600\n"
    nowhere = reply.replace("STEPS = 300", "EPOCHS = 3")
    assert parse_reply(nowhere, PARENT).reason.startswith("edit block 1 names no file (model.py, train_mps.py)")


@pytest.mark.parametrize(("reply", "why"), [
    (_edits("model.py", ("        self.width = 128", "        self.width = 256")).rsplit(">>>>>>>", 1)[0],
     "the block for model.py is never closed (reply cut off?)"),  # cut off by max tokens
    (f"{F}python\nmodel.py\n<<<<<<< SEARCH\n        self.width = 128\n=======\n        self.width = 2\n{F}\n",
     "model.py: edit 1 is cut off: no '>>>>>>> REPLACE' line (reply cut off?)"),
    (f"{F}python\nmodel.py\n<<<<<<< SEARCH\n        self.width = 128\n>>>>>>> REPLACE\n{F}\n",
     "model.py: edit 1 has '>>>>>>> REPLACE' where '=======' was expected"),
    ("model.py\n<<<<<<< SEARCH\nLR = 1e-3\n=======\nLR = 3e-4\n>>>>>>> REPLACE\n",
     "the reply's SEARCH/REPLACE edits are not inside a fenced block named by their file"),
])
def test_truncated_or_malformed_edits_are_unparseable_with_the_reason(reply, why):
    got = parse_reply(reply, PARENT)
    assert (got.rejection, got.reason) == (Rejection.UNPARSEABLE, why)


def test_one_file_whole_and_the_other_as_edits():
    reply = (f"Both.\n\n{F}python\ntrain_mps.py\nLR = 3e-4\nSTEPS = 300\n{F}\n\n"
             + _edits("model.py", ("        self.depth = 4", "        self.depth = 6"), before=""))
    got = parse_reply(reply, PARENT)
    assert got.ok and set(got.changed) == {"model.py", "train_mps.py"}
    assert got.files["train_mps.py"] == "LR = 3e-4\nSTEPS = 300\n" and "self.depth = 6" in got.files["model.py"]


def test_edits_after_a_whole_block_of_the_same_file_edit_that_block():
    reply = (f"{F}python\ntrain_mps.py\nLR = 3e-4\nSTEPS = 100\n{F}\n"
             + _edits("train_mps.py", ("STEPS = 100", "STEPS = 200"), before=""))
    assert parse_reply(reply, PARENT).files["train_mps.py"] == "LR = 3e-4\nSTEPS = 200\n"


def test_edits_that_change_nothing_are_a_no_op_and_a_bad_result_a_syntax_error():
    same = parse_reply(_edits("train_mps.py", ("LR = 1e-3", "LR = 1e-3")), PARENT)
    assert same.rejection is Rejection.NO_OP
    broken = parse_reply(_edits("train_mps.py", ("LR = 1e-3", "LR = (1e-3")), PARENT)
    assert broken.rejection is Rejection.SYNTAX_ERROR and broken.reason.startswith("train_mps.py line")


def test_an_edit_inside_the_frozen_block_applies_and_the_guard_refuses_it(task):
    train = task.seed_files["train_mps.py"]
    marker = next(line for line in train.split("\n") if task.frozen.end_marker in line)
    reply = _edits("train_mps.py", (marker, "EVAL_ITERS = 1\n" + marker))
    assert parse_reply(reply, task.seed_files).ok  # the edit itself applies ...
    s = screen(task, task.seed_files, reply)  # ... and the guard, reading the applied files, refuses it
    assert s.kind is Rejection.CONSTRAINT_VIOLATION and "EVAL_ITERS" in s.reason


def test_an_applied_edit_is_judged_a_duplicate_on_the_applied_files(task):
    whole = screen(task, task.seed_files, f"{F}python\ntrain_mps.py\n"
                   + task.seed_files["train_mps.py"].replace("BETA2 = 0.999", "BETA2 = 0.95") + f"{F}\n")
    edited = screen(task, task.seed_files, _edits("train_mps.py", ("BETA2 = 0.999", "BETA2 = 0.95")))
    assert whole.accepted and edited.accepted
    assert edited.code_hash == whole.code_hash and dict(edited.files) == dict(whole.files)


_lines = st.lists(st.sampled_from(["a = 1", "b = 2", "", "    c = 3", "return x", "# note", "x"]), max_size=25)


@settings(max_examples=300, deadline=None)
@given(_lines, _lines)
def test_edits_between_two_texts_apply_back_to_the_second(old, new):
    a, b = "\n".join(old) + "\n", "\n".join(new) + "\n"
    edits = edits_between(a, b)
    if edits is not None:  # None: a text of repeated lines, where the operator gives the file whole
        assert apply_edits(a, edits, "f.py").text == b


_pieces = st.sampled_from([F, "```python", "model.py", "train_mps.py", "helpers.py", "<<<<<<< SEARCH", "=======",
                           ">>>>>>> REPLACE", "<<<<< SEARCH", "        x = x + 1", "LR = 1e-3", "    ", "\n", ""])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_pieces, st.text(max_size=6))).map("\n".join))
def test_no_edit_reply_makes_the_parser_raise(reply):
    got = parse_reply(reply, PARENT)
    assert got.rejection is None or type(got.rejection) is Rejection
    assert got.ok == bool(got.files)


def test_parse_edits_ignores_text_between_edits_and_keeps_a_docstring_underline():
    parsed = parse_edits("remark\n<<<<<<< SEARCH\na\n=======\nb\n=======\n>>>>>>> REPLACE\nmore\n")
    assert parsed.problem is None and parsed.edits == (Edit(("a",), ("b", "=======")),)


# -- the prompt, the settings, the offline operator and the server ------------------------------------------

def test_the_edits_prompt_states_the_format_with_an_example_and_the_full_prompt_is_as_before(task, personas):
    parent = Parent(dict(task.seed_files), 2.4, "c1")
    full, edits = mutate(personas[0], parent, task), mutate(personas[0], parent, task, reply=ReplyFormat.EDITS)
    assert "SEARCH" not in full.text and "holding the whole new file" in full.text
    assert full.request.reply_format is ReplyFormat.FULL and edits.request.reply_format is ReplyFormat.EDITS
    assert "Answer with edits" in edits.text and edits.text.count("<<<<<<< SEARCH") == 1
    assert edits.text.rstrip().endswith("holding SEARCH/REPLACE edits.")
    for p in (crossover(personas[1], parent, parent, task, reply=ReplyFormat.EDITS),
              repair(personas[2], dataclasses.replace(parent, status="crashed"), task, reply=ReplyFormat.EDITS)):
        assert p.request.reply_format is ReplyFormat.EDITS and "Answer with edits" in p.text


def test_reply_format_settings_and_the_mixed_draw():
    assert cfgmod.LLM().reply_format == "full" and cfgmod.LLM().edit_probability() == 0.0
    mixed = cfgmod.validate({"llm": {"reply_format": "mixed", "edit_share": 0.6}}).llm
    draws = [reply_format(random.Random(f"0:{n}"), mixed.edit_probability()) for n in range(400)]
    assert draws == [reply_format(random.Random(f"0:{n}"), 0.6) for n in range(400)]  # reproducible
    assert 0.5 < draws.count(ReplyFormat.EDITS) / 400 < 0.7
    rng = random.Random(1)
    assert reply_format(rng, 1.0) is ReplyFormat.EDITS and reply_format(rng, 0.0) is ReplyFormat.FULL
    assert rng.random() == random.Random(1).random()  # one format asked: the proposal's draws are unchanged
    with pytest.raises(InputError, match=r"llm.reply_format: Input should be 'full', 'edits' or 'mixed'"):
        cfgmod.validate({"llm": {"reply_format": "diff"}})
    with pytest.raises(InputError, match="edit_share is only used with reply_format = \"mixed\""):
        cfgmod.validate({"llm": {"edit_share": 0.3}})


def test_the_offline_operator_answers_in_edits_with_the_same_files_as_whole(task, personas):
    chars = {ReplyFormat.FULL: 0, ReplyFormat.EDITS: 0}
    for seed in range(12):
        prompt = mutate(personas[seed % 5], Parent(dict(task.seed_files), 2.4, "c1"), task)
        files = {}
        for fmt in ReplyFormat:
            reply = respond(prompt.text, dataclasses.replace(prompt.request, reply_format=fmt), seed)
            s = screen(task, task.seed_files, reply)
            assert s.accepted, (fmt, s.reason)
            files[fmt], chars[fmt] = dict(s.files), chars[fmt] + len(reply)
            assert ("<<<<<<< SEARCH" in reply) == (fmt is ReplyFormat.EDITS)
        assert files[ReplyFormat.FULL] == files[ReplyFormat.EDITS]
    assert chars[ReplyFormat.EDITS] * 3 < chars[ReplyFormat.FULL]


def test_the_request_carries_its_reply_format_over_the_wire(task, personas):
    prompt = mutate(personas[0], Parent(dict(task.seed_files), 2.4, "c1"), task, reply=ReplyFormat.EDITS)
    wired = json.loads(json.dumps(prompt.request.to_wire()))
    assert wired["reply_format"] == "edits" and Request.from_wire(wired) == prompt.request
    with pytest.raises(ValueError, match="'reply_format' has the wrong type or value"):
        Request.from_wire({**wired, "reply_format": "diff"})


@pytest.mark.parametrize(("mode", "kind", "said"), [
    ("edit_mismatch", Rejection.EDIT_MISMATCH, "its SEARCH text matches nothing; nearest: line"),
    ("edit_twice", Rejection.EDIT_MISMATCH, "places (lines"),
    ("edit_cut", Rejection.UNPARSEABLE, "is never closed (reply cut off?)"),
    ("edit_frozen", Rejection.CONSTRAINT_VIOLATION, "EVAL_ITERS_BONUS"),
])
def test_each_unhelpful_edit_mode_fails_the_one_way_it_names(task, personas, mode, kind, said):
    prompt = mutate(personas[0], Parent(dict(task.seed_files), 2.4, "c1"), task, reply=ReplyFormat.EDITS)
    reply = unhelpful.MODES[mode](prompt.text, 0, prompt.request)
    s = screen(task, task.seed_files, reply)
    assert s.kind is kind and said in s.reason, s.reason


def test_the_server_waits_for_the_reply_at_its_token_rate():
    httpd = LoopbackHTTPServer(("127.0.0.1", 0), latency_s=0.5, tokens_per_s=60)
    try:
        assert httpd.delay_s(120) == pytest.approx(2.5) and httpd.delay_s(0) == 0.5
    finally:
        httpd.server_close()
    with pytest.raises(ValueError, match="tokens_per_s"):
        LoopbackHTTPServer(("127.0.0.1", 0), tokens_per_s=0)
