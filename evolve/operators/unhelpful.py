"""Replies of a model that never helps, for the loopback server's modes (evolve/operators/server.py): each
is built from the structured request, so it looks like a real answer to it and fails one way only.

- prose: text without a single file block;
- frozen_edit: the parent's files whole, with a statement added inside the frozen block;
- edit_mismatch: an edit whose SEARCH line is one of the file's with a comment the file does not have;
- edit_twice: an edit whose SEARCH line is found more than once in the file;
- edit_cut: the offline operator's edits, cut off before the last REPLACE marker (a reply at max tokens);
- edit_frozen: the frozen_edit change, as a SEARCH/REPLACE edit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from evolve.kinds import ReplyFormat
from evolve.operators.context import Request
from evolve.operators.edits import REPLACE, Edit, edit_block
from evolve.operators.offline.operator import render_reply, respond

PROSE = "I would rather discuss the history of mechanics than write code today."
_SUMMARY = "A careful small change."


def _frozen_files(request: Request) -> dict[str, str] | None:
    """The parent's files with one assignment added just above the frozen block's end marker."""
    parent, frozen = request.parent, request.frozen_file
    if not frozen or not request.end_marker or frozen not in parent:
        return None
    lines = parent[frozen].split("\n")
    at = next((i for i, line in enumerate(lines) if request.end_marker in line), None)
    if at is None:
        return None
    return {**parent, frozen: "\n".join(lines[:at] + ["EVAL_ITERS_BONUS = 1"] + lines[at:])}


def frozen_edit(request: Request, reply: ReplyFormat = ReplyFormat.FULL) -> str:
    edited = _frozen_files(request)
    if edited is None:
        return PROSE
    return render_reply("Evaluate a little more carefully.", request.parent, edited, request.editable, reply)


def _code_lines(request: Request) -> list[tuple[str, str]]:
    """(file, line) for every line of code in the editable files, in order."""
    return [(name, line) for name in request.editable for line in request.parent.get(name, "").split("\n")
            if line.strip() and not line.lstrip().startswith("#")]


def edit_mismatch(request: Request) -> str:
    lines = _code_lines(request)
    if not lines:
        return PROSE
    name, line = lines[len(lines) // 2]
    edit = Edit((line + "  # as before",), (line + "  # tuned",))
    return f"{_SUMMARY}\n\n{edit_block(name, [edit])}\n"


def edit_twice(request: Request) -> str:
    seen = Counter((name, line.rstrip()) for name, line in _code_lines(request))
    repeated = next((key for key, count in seen.items() if count > 1), None)
    if repeated is None:
        return edit_mismatch(request)
    name, line = repeated
    return f"{_SUMMARY}\n\n{edit_block(name, [Edit((line,), (line + '  # tuned',))])}\n"


def edit_cut(prompt: str, seed: int, request: Request) -> str:
    full = respond(prompt, replace(request, reply_format=ReplyFormat.EDITS), seed)
    at = full.rfind(REPLACE)
    return full[:at] if at > 0 else full[: len(full) * 3 // 5]


MODES: dict[str, Callable[[str, int, Request], str]] = {
    "prose": lambda prompt, seed, request: PROSE,
    "frozen_edit": lambda prompt, seed, request: frozen_edit(request),
    "edit_mismatch": lambda prompt, seed, request: edit_mismatch(request),
    "edit_twice": lambda prompt, seed, request: edit_twice(request),
    "edit_cut": edit_cut,
    "edit_frozen": lambda prompt, seed, request: frozen_edit(request, ReplyFormat.EDITS),
}
