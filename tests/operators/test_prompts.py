from __future__ import annotations

import json
import re

import pytest

from evolve.operators.context import Attempt, Change, Context, Limits, Parent, Request
from evolve.operators.fences import file_block
from evolve.operators.prompts import PromptTooLong, crossover, mutate, repair


def _parent(task, **kw):
    return Parent(dict(task.seed_files), **{"fitness": 2.4512, "label": "c7", "change": "seed", **kw})


def test_mutate_prompt_holds_persona_files_constraints_and_context(task, personas):
    ctx = Context(island_best=2.3101, recent=(Change("[muon] orthogonalized updates", -0.0421, "newton", "mutate"),))
    p = mutate(personas[0], _parent(task), task, ctx)
    assert p.text.startswith(personas[0].prompt.rstrip())
    for needle in ("Operator: mutate", "tags: optimizer, dynamics, schedule", "candidate c7", "2.4512", "2.3101",
                   "[newton/mutate] [muon] orthogonalized updates (delta -0.0421)", "estimate_loss",
                   "MAX_ITERS", "_val_offsets", "FROZEN BEGIN", "train_mps.py:train"):
        assert needle in p.text, needle
    assert all(file_block(name, text) in p.text for name, text in task.seed_files.items())  # in the reply's format
    view = p.request
    assert view.parent == dict(task.seed_files) and view.operator == "mutate" and p.cuts == ()
    assert len(p.hash) == 64


def test_crossover_shows_both_parents_and_does_not_repeat_identical_files(task, personas):
    train = task.seed_files["train_mps.py"].replace("BETA2 = 0.999", "BETA2 = 0.95")
    b_files = {**task.seed_files, "train_mps.py": train}
    p = crossover(personas[1], _parent(task), Parent(b_files, 2.40, "c9"), task)
    assert "model.py: identical to parent A" in p.text
    view = p.request
    assert view.operator == "crossover" and view.other == b_files and view.parent == dict(task.seed_files)


def test_repair_shows_status_reason_and_error_tail(task, personas):
    failed = _parent(task, status="crashed", reason="RuntimeError: shape mismatch",
                     error_tail="Traceback (most recent call last):\nRuntimeError: shape mismatch\n")
    p = repair(personas[2], failed, task)
    assert "status crashed: RuntimeError: shape mismatch" in p.text and "Traceback (most recent" in p.text


def test_cuts_are_deterministic_bounded_and_stated(task, personas):
    changes = tuple(Change(f"change {i} " + "x" * 500, -0.01 * i) for i in range(9))
    failed = _parent(task, status="crashed", reason="boom", error_tail="E" * 9000 + "LAST LINE")
    limits = Limits(max_chars=30_000)
    p = repair(personas[3], failed, task, Context(2.3, changes), limits)
    assert len(p.text) <= limits.max_chars
    assert p.text == repair(personas[3], failed, task, Context(2.3, changes), limits).text
    assert "(4 older changes not shown)" in p.text and "change 4" in p.text and "change 5" not in p.text
    assert "LAST LINE" in p.text and "E" * 2001 not in p.text
    assert "## Cut to fit 30000 characters" in p.text and "error tail shortened to its last 2000" in p.text

    tight = Limits(max_chars=18_000)  # the files alone take ~9k: context, then the persona text goes
    q = repair(personas[3], failed, task, Context(2.3, changes), tight)
    assert len(q.text) <= tight.max_chars
    assert "older changes dropped to fit" in q.cuts[-3] or any("older changes dropped" in c for c in q.cuts)
    assert any("persona text cut" in c for c in q.cuts) and "[... persona text cut here ...]" in q.text
    assert all(file_block(name, text) in q.text for name, text in task.seed_files.items())  # files are never cut
    assert q.request.parent == dict(task.seed_files)

    with pytest.raises(PromptTooLong):
        mutate(personas[0], _parent(task), task, limits=Limits(max_chars=5_000))


def _attempts(n: int, reason: str = "duplicate: the same program as candidate 3") -> tuple[Attempt, ...]:
    """n earlier children, newest first: the newest two rejected, then one that scored, then others."""
    out = []
    for i in range(n):
        label = str(100 - i)
        if i < 2:
            out.append(Attempt(label, f"[muon] try {i}", "rejected", reason, None, "newton", "mutate"))
        elif i == 2:
            out.append(Attempt(label, "[rope] rotary", "ok", "", +0.0123, "euler", "mutate"))
        else:
            out.append(Attempt(label, f"[perturb] LR {i}", "crashed", "RuntimeError: " + "x" * 400))
    return tuple(out)


def test_the_prompt_tells_what_was_tried_from_the_parent_and_why_the_last_reply_was_rejected(task, personas):
    long_reason = "constraint_violation: train_mps.py: the frozen block differs from the seed's at line 12 " + "y" * 400
    p = mutate(personas[0], _parent(task), task, Context(2.3, attempts=_attempts(4, long_reason)))
    section = p.text.split("## Earlier attempts from this parent", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("- candidate")]
    assert [line.split()[2].rstrip(":") for line in lines] == ["100", "99", "98", "97"]  # newest first
    assert lines[0].startswith("- candidate 100 [newton/mutate]: [muon] try 0 -> rejected: constraint_violation:")
    assert lines[2] == "- candidate 98 [euler/mutate]: [rope] rotary -> scored, delta +0.0123"
    # the newest rejection's reason at full length (300), older ones at half
    assert len(lines[0].split(" -> rejected: ", 1)[1]) == 300
    assert len(lines[1].split(" -> rejected: ", 1)[1]) == 150
    assert p.cuts == ()
    assert p.request.tried == tuple(lines)  # what the offline operator is told


def test_earlier_attempts_are_bounded_and_their_cuts_stated(task, personas):
    p = mutate(personas[0], _parent(task), task, Context(2.3, attempts=_attempts(12)))
    assert "- (4 older attempts not shown)" in p.text and "- candidate 93:" in p.text and "- candidate 92" not in p.text
    assert "earlier attempts beyond the newest 8 not shown" in p.cuts
    base = len(mutate(personas[0], _parent(task), task).text)
    tight = Limits(max_chars=base + 1200)  # room for a few attempt lines: the newest are kept
    q = mutate(personas[0], _parent(task), task, Context(2.3, attempts=_attempts(12)), tight)
    assert len(q.text) <= tight.max_chars
    assert q.cuts.count("older attempts dropped to fit; the newest are kept") == 1
    assert not any("persona text cut" in c for c in q.cuts)
    assert "- candidate 100 " in q.text and "- candidate 93:" not in q.text  # the oldest shown go first
    assert "older attempts not shown)" in q.text and "- (4 older attempts not shown)" not in q.text


def test_the_request_a_prompt_carries_says_what_its_text_says_and_survives_its_wire_form(task, personas):
    # The offline operator answers from Prompt.request (in process, or as JSON through the loopback server),
    # an LLM from the text: both must be asked the same thing.
    attempts = _attempts(3)
    ctx = Context(2.3, (Change("[muon] orthogonalized updates " + "z" * 300, -0.04, "newton", "mutate"),),
                  attempts)
    parent = _parent(task, change="[rope] rotary  position\nembeddings " + "w" * 300)
    train = task.seed_files["train_mps.py"].replace("BETA2 = 0.999", "BETA2 = 0.95")
    other = Parent({**task.seed_files, "train_mps.py": train}, 2.40, "c9")
    failed = _parent(task, status="timeout", reason="killed at the limit", error_tail="step 10\nstep 20")
    silent = _parent(task, status="crashed", reason="exit 1", error_tail="")
    for p in (mutate(personas[0], parent, task, ctx), crossover(personas[1], parent, other, task, ctx),
              repair(personas[2], failed, task, ctx), repair(personas[3], silent, task)):
        r = p.request
        assert r is not None and r.operator == p.operator and r.persona == p.persona, p.operator
        assert all(file_block(name, text) in p.text for name, text in r.parent.items())
        assert all(line in p.text for line in r.tried) and r.last_change in p.text
        assert r.failure.split("\n", 1)[0] in p.text and ", ".join(r.frozen_names) in p.text
        assert Request.from_wire(json.loads(json.dumps(r.to_wire()))) == r
    assert len(r.tried) == 0 and r.failure.startswith("## Error tail of the failed parent (status crashed: exit 1)")


def test_the_wire_form_refuses_what_it_did_not_write(task, personas):
    wire = mutate(personas[0], _parent(task), task).request.to_wire()
    for broken, said in (({k: v for k, v in wire.items() if k != "parent"}, "missing: ['parent']"),
                         ({**wire, "hint": "x"}, "unknown: ['hint']"),
                         ({**wire, "tags": "optimizer"}, "'tags'"),
                         ({**wire, "operator": "seed"}, "'operator'"),
                         ({**wire, "parent": {"model.py": 3}}, "'parent'"),
                         ({**wire, "frozen_file": 1}, "'frozen_file'"),
                         ([wire], "a JSON object")):
        with pytest.raises(ValueError, match=re.escape(said)):
            Request.from_wire(broken)
