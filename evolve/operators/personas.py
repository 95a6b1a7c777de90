"""Personas: the mutation operators' prompt texts, read strictly from a folder of files.

The format is described in seeds/personas/README.md. Every problem is an InputError naming the file, so
a user's typo stops a campaign before it starts instead of surfacing mid-run.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from scoring.errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_KEYS = {"name", "title", "tags", "prompt"}


@dataclass(frozen=True)
class Persona:
    name: str
    title: str
    tags: tuple[str, ...]
    prompt: str
    source: str  # the file it came from, for error messages and reports


def builtin_personas_dir() -> Path:
    """The five personas shipped in this repository's `seeds/personas/`."""
    return Path(__file__).resolve().parents[2] / "seeds" / "personas"


def _from_toml(path: Path) -> Persona:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"persona file {path}: not valid TOML ({e})") from None
    extra = sorted(set(doc) - _KEYS)
    if extra:
        raise InputError(f"persona file {path}: unknown key {extra[0]!r} "
                         "(allowed: name, title, tags, prompt)")
    for key in ("name", "title", "prompt"):
        if not isinstance(doc.get(key), str):
            raise InputError(f"persona file {path}: {key!r} is missing or not a string")
    tags = doc.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise InputError(f"persona file {path}: 'tags' must be a list of non-empty strings")
    return Persona(doc["name"], doc["title"], tuple(t.strip() for t in tags), doc["prompt"], str(path))


def _from_text(path: Path) -> Persona:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"persona file {path}: not UTF-8 text ({e})") from None
    return Persona(path.stem, path.stem, (), text, str(path))


def load_persona(path: str | Path) -> Persona:
    path = Path(path)
    persona = _from_toml(path) if path.suffix == ".toml" else _from_text(path)
    if not _NAME.match(persona.name):
        raise InputError(f"persona file {path}: name {persona.name!r} must be letters, digits, '_' or '-'")
    if not persona.prompt.strip():
        raise InputError(f"persona file {path}: the prompt is empty")
    return persona


def load_personas(folder: str | Path | None = None) -> tuple[Persona, ...]:
    """Every persona in `folder` (default: the built-in ones), in file-name order."""
    root = Path(folder).expanduser() if folder is not None else builtin_personas_dir()
    if not root.is_dir():
        raise InputError(f"personas folder not found: {root}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in (".toml", ".txt"))
    if not files:
        raise InputError(f"personas folder {root} has no .toml or .txt persona files")
    personas: list[Persona] = []
    seen: dict[str, str] = {}
    for path in files:
        persona = load_persona(path)
        if persona.name in seen:
            raise InputError(f"persona file {path}: name {persona.name!r} is already used by "
                             f"{seen[persona.name]}")
        seen[persona.name] = str(path)
        personas.append(persona)
    return tuple(personas)
