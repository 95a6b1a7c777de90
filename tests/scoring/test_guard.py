"""The constraint guard, on the syntax tree: formatting is free, the frozen protocol is not."""

from __future__ import annotations

import pytest

from scoring import guard

TRAIN = "train_mps.py"


def check_train(task, old: str, new: str) -> list[str]:
    text = task.seed_files[TRAIN]
    assert old in text, old
    return guard.check(task, {TRAIN: text.replace(old, new, 1), "model.py": task.seed_files["model.py"]})


def test_the_seed_passes(task):
    assert guard.check(task, dict(task.seed_files)) == []


def test_reformatting_the_frozen_block_is_not_a_change(task):
    assert check_train(task, "BATCH_SIZE = 32  # sequences per training batch",
                       "BATCH_SIZE   =   32\n\n# a new comment\n") == []


def test_changing_a_frozen_value_names_it(task):
    assert check_train(task, "MAX_ITERS = 10 if SMOKE else 300", "MAX_ITERS = 10 if SMOKE else 3000") == [
        "frozen block changed: `MAX_ITERS = 10 if SMOKE else 300` became `MAX_ITERS = 10 if SMOKE else 3000`"
    ]


def test_removing_a_marker_is_a_violation(task):
    problems = check_train(task, "# ==================== FROZEN END ====================", "")
    assert len(problems) == 1 and "must each appear exactly once" in problems[0]


def test_code_before_the_frozen_block_is_refused(task):
    problems = check_train(task, "# ==================== FROZEN BEGIN",
                           "import os\nos.environ['EVOLVE_SMOKE'] = '1'\n# ==================== FROZEN BEGIN")
    assert any("only a docstring and comments may come before the frozen block" in p for p in problems)


def test_rebinding_frozen_names_outside_the_block(task):
    for code, name in [
        ("MAX_ITERS = 5", "MAX_ITERS"),
        ("globals()['BATCH_SIZE'] = 4", "BATCH_SIZE"),
        ("def estimate_loss(model):\n    return 0.0", "estimate_loss"),
        ("setattr(object(), 'DEVICE', 'cpu')", "DEVICE"),
    ]:
        problems = check_train(task, "EVAL_INTERVAL = ", code + "\nEVAL_INTERVAL = ")
        assert any(f"rebinds the frozen name {name!r}" in p for p in problems), (code, problems)


def test_private_data_is_off_limits_to_mutable_code(task):
    problems = check_train(task, "EVAL_INTERVAL = ", "PEEK = val_data[:10]\nEVAL_INTERVAL = ")
    assert any("uses 'val_data', which only the frozen block may touch" in p for p in problems)


def test_another_file_cannot_rebind_frozen_names(task):
    model = task.seed_files["model.py"] + "\nimport train_mps\ntrain_mps.MAX_ITERS = 10**6\n"
    problems = guard.check(task, {"model.py": model, TRAIN: task.seed_files[TRAIN]})
    assert any("model.py" in p and "'MAX_ITERS'" in p for p in problems)


def test_unknown_file_is_reported(task):
    expected = ["other.py is not an editable file of task 'nanogpt_shakespeare'"]
    assert guard.check(task, {"other.py": "x = 1\n"}) == expected


def test_a_parse_colliding_with_another_threads_parse_is_retried(monkeypatch):
    # CPython 3.11: a parse running beside another thread's (one not behind our lock) can fail with this
    # SystemError; the parse is pure, so it is tried again. Any other SystemError is not ours to hide.
    import ast
    import types

    from scoring import syntax

    real, calls = ast.parse, []

    def flaky(source, filename="<unknown>", **kw):
        calls.append(source)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=42, after=65)")
        return real(source, filename=filename, **kw)

    monkeypatch.setattr(syntax, "ast", types.SimpleNamespace(parse=flaky))  # this module's parses only
    assert isinstance(syntax.parse("x = 1\n"), ast.Module) and len(calls) == 2

    def broken(source, filename="<unknown>", **kw):
        raise SystemError("something else")

    monkeypatch.setattr(syntax, "ast", types.SimpleNamespace(parse=broken))
    with pytest.raises(SystemError, match="something else"):
        syntax.parse("x = 1\n")
