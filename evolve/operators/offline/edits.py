"""A catalog edit: a named, persona-tagged code change made of exact text replacements.

Edits compose across generations, so each one must apply to a parent that other edits already changed
and know when it is already applied:
- `variants` are alternative replacement lists; the first whose every `old` text is found exactly once
  (in sequence) is applied. A second variant covers a parent another edit changed at the same spot.
- an edit is applied when every `new` text of one of its variants is present;
- reverting replaces each `new` text (found exactly once) by its `old`, in reverse order, which is how
  the offline operator repairs a failed candidate.
Replacements anchor on whole lines, so an edit never fires on a look-alike elsewhere.

A replacement names the file of the built-in task that holds its anchor (`model.py` or `train_mps.py`).
When the candidate has no file of that name (a task that keeps the model and the training in one
file), the anchor is looked for in the candidate's other files and used only where it is unique.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Replacement:
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class Edit:
    name: str
    tags: tuple[str, ...]
    summary: str  # one line, written into the reply; the campaign stores it as the change summary
    variants: tuple[tuple[Replacement, ...], ...]

    def applied(self, files: Mapping[str, str]) -> bool:
        return any(all(_holds(files, r.file, r.new) for r in variant) for variant in self.variants)

    def apply(self, files: Mapping[str, str]) -> dict[str, str] | None:
        """The files with this edit made, or None when it is already applied or its anchors are missing."""
        if self.applied(files):
            return None
        for variant in self.variants:
            out = _run(files, [(r.file, r.old, r.new) for r in variant])
            if out is not None:
                return out
        return None

    def revert(self, files: Mapping[str, str]) -> dict[str, str] | None:
        """The files with this edit undone, or None when it cannot be undone cleanly."""
        for variant in self.variants:
            if all(_holds(files, r.file, r.new) for r in variant):
                out = _run(files, [(r.file, r.new, r.old) for r in reversed(variant)])
                if out is not None:
                    return out
        return None


def _holds(files: Mapping[str, str], file: str, text: str) -> bool:
    if file in files:
        return text in files[file]
    return any(text in body for body in files.values())


def _home(files: Mapping[str, str], file: str, old: str) -> str | None:
    """The file to edit: `file` when the candidate has it, else the one file holding `old` exactly once."""
    if file in files:
        return file
    holders = [name for name, body in files.items() if body.count(old) == 1]
    return holders[0] if len(holders) == 1 and not any(old in files[n] for n in files if n != holders[0]) else None


def _run(files: Mapping[str, str], steps: list[tuple[str, str, str]]) -> dict[str, str] | None:
    out = dict(files)
    for file, old, new in steps:
        home = _home(out, file, old)
        text = out.get(home) if home is not None else None
        if text is None or text.count(old) != 1:
            return None
        out[home] = text.replace(old, new)
    return out


def edit(name: str, tags: str, summary: str, *variants: list[tuple[str, str, str]]) -> Edit:
    """Shorthand for the catalog: tags as one space-separated string, replacements as (file, old, new)."""
    return Edit(name, tuple(tags.split()), summary,
                tuple(tuple(Replacement(*r) for r in variant) for variant in variants))
