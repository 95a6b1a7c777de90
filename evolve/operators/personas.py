"""Personas: the mutation operators' prompt texts, read strictly from a folder of files.

The format is described in seeds/personas/README.md. Every problem is an InputError naming the file, so
a user's typo stops a campaign before it starts instead of surfacing mid-run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from scoring.errors import InputError
from scoring.strict import load_toml

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


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


@dataclass(frozen=True)
class _PersonaFile:
    """A persona's TOML file as written (scoring/strict.py reads it: unknown keys and wrong types are refused)."""

    name: str
    title: str
    prompt: str
    tags: tuple[str, ...] = ()


def _from_toml(path: Path) -> Persona:
    doc = load_toml(path, _PersonaFile, f"persona file {path}")
    if not all(t.strip() for t in doc.tags):
        raise InputError(f"persona file {path}: 'tags' must be a list of non-empty strings")
    return Persona(doc.name, doc.title, tuple(t.strip() for t in doc.tags), doc.prompt, str(path))


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
