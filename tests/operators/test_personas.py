from __future__ import annotations

import pytest

from evolve.operators.personas import load_personas
from scoring.errors import InputError


def test_five_builtin_personas_with_names_tags_and_repaired_text(personas):
    assert [p.name for p in personas] == ["newton", "galileo", "euler", "archimedes", "von_neumann"]
    assert all(p.tags and p.title and p.prompt.startswith("You are ") for p in personas)
    text = {p.name: p.prompt for p in personas}
    assert "Philosophiæ Naturalis Principia Mathematica" in text["newton"]
    assert "Königsberg bridge problem" in text["euler"]
    assert not any(bad in t for t in text.values() for bad in ("√", "Ã", "¶"))


def _write(tmp_path, name, body):
    (tmp_path / name).write_text(body, encoding="utf-8")


GOOD = 'name = "{n}"\ntitle = "T"\ntags = ["optimizer"]\nprompt = """You are someone."""\n'


@pytest.mark.parametrize("body, message", [
    ('name = "x"\ntitle = ', "not valid TOML"),
    ('name = "x"\ntitle = "T"\nprompt = "p"\ncolour = "red"\n', "unknown key 'colour'"),
    ('name = "x"\ntitle = "T"\n', "'prompt' is missing"),
    ('name = "x"\ntitle = "T"\ntags = "optimizer"\nprompt = "p"\n', "'tags' must be a list"),
    ('name = "x y"\ntitle = "T"\nprompt = "p"\n', "must be letters"),
    ('name = "x"\ntitle = "T"\nprompt = "  "\n', "prompt is empty"),
])
def test_malformed_persona_file_is_an_input_error_naming_the_file(tmp_path, body, message):
    _write(tmp_path, "a_ok.toml", GOOD.format(n="ok"))
    _write(tmp_path, "b_bad.toml", body)
    with pytest.raises(InputError, match=message) as err:
        load_personas(tmp_path)
    assert "b_bad.toml" in str(err.value)


def test_duplicate_names_and_empty_or_missing_folder(tmp_path):
    _write(tmp_path, "a.toml", GOOD.format(n="same"))
    _write(tmp_path, "b.toml", GOOD.format(n="same"))
    with pytest.raises(InputError, match="b.toml.*already used by.*a.toml"):
        load_personas(tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_personas(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .toml or .txt"):
        load_personas(tmp_path / "empty")


def test_user_folder_of_toml_and_plain_text_files(tmp_path):
    _write(tmp_path, "1.toml", GOOD.format(n="mine"))
    _write(tmp_path, "2_curie.txt", "You are Marie Curie.\n")
    _write(tmp_path, "README.md", "ignored")
    got = load_personas(tmp_path)
    assert [(p.name, p.tags) for p in got] == [("mine", ("optimizer",)), ("2_curie", ())]
    assert got[1].prompt == "You are Marie Curie.\n"
