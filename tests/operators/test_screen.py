from __future__ import annotations

from evolve.kinds import Rejection
from evolve.operators.fences import file_block
from evolve.operators.offline.catalog import by_name
from evolve.screen import code_hash, screen


def _reply(**files: str) -> str:
    return "\n\n".join(file_block(name, text) for name, text in files.items())


def test_accepted_candidate_has_merged_files_and_hash(task):
    new = by_name("rmsnorm").apply(task.seed_files)
    s = screen(task, task.seed_files, _reply(**{"model.py": new["model.py"], "train_mps.py": ""}))
    assert s.accepted and s.changed == ("model.py",) and dict(s.files) == new
    assert s.code_hash == code_hash(new)


def test_comments_docstrings_and_formatting_do_not_make_a_new_program(task):
    new = by_name("rope").apply(task.seed_files)
    assert screen(task, task.seed_files, _reply(**{"model.py": new["model.py"]})).code_hash == code_hash(new)
    reformatted = "# a new comment\n" + new["model.py"].replace('"""A small', '"""A tiny').replace("    ", "    ")
    s = screen(task, task.seed_files, _reply(**{"model.py": reformatted}))
    assert s.accepted and s.code_hash == code_hash(new)  # the campaign's duplicate check compares this hash
    commented = task.seed_files["model.py"].replace("import math\n", "import math  # for sqrt\n")
    s = screen(task, task.seed_files, _reply(**{"model.py": commented}))
    assert s.kind == "no_op" and "comments" in s.reason


def test_frozen_block_change_is_a_constraint_violation(task):
    train = task.seed_files["train_mps.py"].replace("BATCH_SIZE = 32", "BATCH_SIZE = 64")
    s = screen(task, task.seed_files, _reply(**{"train_mps.py": train}))
    assert s.status == "constraint_violation" and "frozen block changed" in s.reason
    rebind = task.seed_files["train_mps.py"] + "\nMAX_ITERS = 10000\n"
    s = screen(task, task.seed_files, _reply(**{"train_mps.py": rebind}))
    assert s.status == "constraint_violation" and "MAX_ITERS" in s.reason


def test_parser_rejections_pass_through(task):
    assert screen(task, task.seed_files, "no code here").kind == "unparseable"
    s = screen(task, task.seed_files, _reply(**{"model.py": "def f(:\n"}))
    assert s.status == "rejected" and s.kind == "syntax_error" and "model.py line 1" in s.reason


def test_every_screen_verdict_is_a_rejection_member_or_none(task):
    new = by_name("rope").apply(task.seed_files)
    frozen = task.seed_files["train_mps.py"].replace("BATCH_SIZE = 32", "BATCH_SIZE = 64")
    commented = task.seed_files["model.py"].replace("import math\n", "import math  # for sqrt\n")
    replies = {"no code here": Rejection.UNPARSEABLE, _reply(**{"model.py": "def f(:\n"}): Rejection.SYNTAX_ERROR,
               _reply(**{"model.py": task.seed_files["model.py"]}): Rejection.NO_OP,
               _reply(**{"model.py": commented}): Rejection.NO_OP,
               _reply(**{"train_mps.py": frozen}): Rejection.CONSTRAINT_VIOLATION, _reply(**new): None}
    for reply, kind in replies.items():
        s = screen(task, task.seed_files, reply)
        assert s.kind is kind and (s.kind is None) == s.accepted, (s.kind, s.reason)


def test_code_hash_ignores_formatting_but_not_code():
    a = {"m.py": "x = 1\n\n\ndef f():\n    '''doc'''\n    return x\n"}
    b = {"m.py": "x=1  # one\ndef f():\n    return x\n"}
    c = {"m.py": "x = 2\ndef f():\n    return x\n"}
    assert code_hash(a) == code_hash(b) != code_hash(c)
    assert code_hash(a) != code_hash({"n.py": a["m.py"]})


def test_code_hash_tells_apart_programs_with_the_same_tokens():
    # the canonical form records structure (list lengths, node types), not just the tokens in order
    pairs = [("x = [1, 2]\n", "x = [1], 2\n"), ("f(a, b)\n", "f(a)(b)\n"), ("x = 'a' 'b'\n", "x = 'a', 'b'\n"),
             ("def f():\n    '''only a docstring'''\n", "def f():\n    pass\n    pass\n"),
             ("x = None\n", "x = 'None'\n")]
    for one, other in pairs:
        assert code_hash({"m.py": one}) != code_hash({"m.py": other}), (one, other)
    # a body that is only a docstring counts as `pass`
    assert code_hash({"m.py": "def f():\n    '''doc'''\n"}) == code_hash({"m.py": "def f():\n    pass\n"})


def test_hashing_leaves_the_shared_syntax_tree_as_parsed():
    import ast

    from scoring import syntax

    text = "'''module doc'''\n\n\nclass A:\n    '''class doc'''\n    x = 1\n"
    tree = syntax.parse_shared(text, "m.py")
    before = ast.dump(tree)
    code_hash({"m.py": text})
    assert syntax.parse_shared(text, "m.py") is tree and ast.dump(tree) == before


def test_the_statement_cache_gives_the_hash_of_a_full_walk(task):
    # A file's canonical form is put together from cached parts, one per top-level statement, keyed by the
    # statement's source text and columns. It must equal the walk over the whole tree: two statements on
    # one line, decorators above a def, docstrings, a module that is only a docstring, and a statement that
    # reappears elsewhere in another file.
    import random

    from evolve import screen as scr
    from scoring import syntax

    sources = ["'''doc'''\n", "a = 1; b = 2\n", "a = 1; a = 1\nb = 2\n", "x = 1\n",
               "@d\n@e(1)\ndef f():\n    '''x'''\n    return 1\nclass C: pass\n", "'''only doc'''\nimport os\n",
               "if x:\n    y = 1\nelse:\n    y = 2\n", "def f():\n    return 1\n\n\nx = f()\ndef f():\n    return 2\n",
               *task.seed_files.values()]
    rng = random.Random(0)
    lines = sources[-1].splitlines(keepends=True)
    for _ in range(20):  # the seed with one statement-level line dropped: most statements come from the cache
        cut = list(lines)
        del cut[rng.randrange(len(cut))]
        sources.append("".join(cut))
    checked = 0
    for text in sources:
        try:
            tree = syntax.parse(text, "m.py")
        except SyntaxError:
            continue
        assert scr._module_canonical(tree, text) == scr._canonical(tree), text
        checked += 1
    assert checked >= 20
