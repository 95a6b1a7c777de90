"""The one TOML reader for a user's files: a frozen dataclass, or a one-line InputError naming file and key."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from scoring.errors import InputError
from scoring.strict import load_toml


@dataclass(frozen=True)
class Inner:
    size: int
    rate: float = 0.5


@dataclass(frozen=True)
class Outer:
    name: str
    tags: tuple[str, ...]
    inner: Inner
    cap: float | None = None
    note: str = ""


GOOD = 'name = "x"\ntags = ["a", "b"]\ncap = 3\n[inner]\nsize = 4\n'


def _load(tmp_path, text: str) -> Outer:
    (tmp_path / "f.toml").write_text(text, encoding="utf-8")
    return load_toml(tmp_path / "f.toml", Outer)


def test_a_good_file_becomes_the_value_with_its_defaults(tmp_path):
    got = _load(tmp_path, GOOD)
    assert got == Outer("x", ("a", "b"), Inner(4, 0.5), 3.0, "")
    assert isinstance(got.cap, float) and isinstance(got.tags, tuple)


@pytest.mark.parametrize(("text", "message"), [
    (GOOD + "colour = 1\n", "[inner]: unknown key 'colour' (allowed: size, rate)"),
    ("colour = 1\n" + GOOD, ": unknown key 'colour' (allowed: name, tags, inner, cap, note)"),
    (GOOD.replace('name = "x"\n', ""), ": 'name' is missing"),
    (GOOD.split("[inner]")[0], ": missing key 'inner' (the [inner] table)"),
    (GOOD.replace("size = 4", "rate = 1.0"), "[inner]: 'size' is missing"),
    (GOOD.replace('name = "x"', "name = 5"), ": 'name' must be str, got int"),
    (GOOD.replace("size = 4", "size = 4.5"), "[inner]: 'size' must be int, got float"),
    (GOOD.replace("size = 4", "size = true"), "[inner]: 'size' must be int, got bool"),
    (GOOD.replace("cap = 3", 'cap = "big"'), ": 'cap' must be float, got str"),
    (GOOD.replace('["a", "b"]', '"a"'), ": 'tags' must be a list of strings, got str"),
    (GOOD.replace('["a", "b"]', '["a", 2]'), ": 'tags' must be a list of strings, got a list with int in it"),
    (GOOD.replace("[inner]\nsize = 4\n", "inner = 3\n"), "[inner]: expected a table of keys, got int"),
    ("name = \n", ": not valid TOML"),
])
def test_every_problem_is_one_line_naming_the_file_and_the_key(tmp_path, text, message):
    with pytest.raises(InputError) as err:
        _load(tmp_path, text)
    assert str(err.value).startswith(str(tmp_path / "f.toml")), err.value
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_caller_names_the_file_its_own_way(tmp_path):
    (tmp_path / "p.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match=r"^persona file .*p\.toml: not valid TOML"):
        load_toml(tmp_path / "p.toml", Outer, f"persona file {tmp_path / 'p.toml'}")
