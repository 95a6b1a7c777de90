"""Edit replies: SEARCH/REPLACE edits to a named file, read from a reply, applied, and made from two
versions of a file (what the offline operator answers with in the "edits" reply format).

The format is aider's, which models already know, inside a fenced block named by its file the way a whole
file is (reply.py finds the name):

    ```python
    model.py
    <<<<<<< SEARCH
            x = self.ln_f(x)
    =======
            x = self.norm(x)
    >>>>>>> REPLACE
    ```

A block may hold several edits; they apply in order, each to the file as the ones before left it. The
markers start their line and have 5 to 9 `<`, `=` or `>` (models miscount); text between edits is ignored.

Applying one edit:
1. exact: the SEARCH lines equal a run of the file's lines (trailing whitespace ignored) in one place;
2. else whitespace-tolerant: equal with every line stripped and its inner whitespace collapsed, blank lines
   skipped; the REPLACE lines are then shifted by the indentation the file has there and the SEARCH lacked;
3. else refused, naming the edit and the file: an empty SEARCH, a SEARCH found in several places (their
   lines), or found nowhere (the nearest run of lines: its first line that differs, beside the SEARCH's).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from evolve.operators.fences import fence_for

SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
_MARKERS = ((re.compile(r"^<{5,9} ?SEARCH\s*$"), "search"), (re.compile(r"^={5,9}\s*$"), "divider"),
            (re.compile(r"^>{5,9} ?REPLACE\s*$"), "replace"))
_SHOWN = 70  # characters of a line quoted in a reason


@dataclass(frozen=True)
class Edit:
    search: tuple[str, ...]
    replace: tuple[str, ...]


@dataclass(frozen=True)
class Parsed:
    """The edits of one block, or why they cannot be read (`problem`: a marker missing, a block cut off)."""

    edits: tuple[Edit, ...]
    problem: str | None = None


@dataclass(frozen=True)
class Applied:
    """A file after its edits (`text`), or why an edit did not apply (`problem`, text None)."""

    text: str | None
    problem: str | None = None
    tolerant: int = 0  # edits that matched only with whitespace tolerated


def _marker(line: str) -> str | None:
    return next((kind for pattern, kind in _MARKERS if pattern.match(line)), None)


def is_edit_block(text: str) -> bool:
    """Whether a block's text holds SEARCH/REPLACE edits (else it is a whole file)."""
    return any(_marker(line) == "search" for line in text.split("\n"))


_NEXT = {  # (part, marker) -> the part that follows; pairs not listed are a misplaced marker
    (None, "search"): "search", (None, "divider"): None, (None, "replace"): None,
    ("search", "divider"): "replace", ("replace", "replace"): None, ("replace", "divider"): "replace",
}


def _text_line(part: str | None, kind: str | None) -> bool:
    """A line that is text, not a marker: no marker, or a divider inside the REPLACE part (a docstring's
    underline)."""
    return kind is None or (part, kind) == ("replace", "divider")


def parse_edits(text: str) -> Parsed:
    """The edits in a block's text, in order (the rules above)."""
    edits: list[Edit] = []
    part, search, body = None, [], []  # part: None (between edits), "search" or "replace"
    for line in text.split("\n"):
        kind = _marker(line)
        if _text_line(part, kind):
            body.append(line)  # between edits, dropped at the next marker
            continue
        if (part, kind) not in _NEXT:
            lacking = DIVIDER if part == "search" else REPLACE
            return Parsed((), f"edit {len(edits) + 1} has {line.strip()!r} where {lacking!r} was expected")
        if part == "search":
            search = body
        elif part == "replace":
            edits.append(Edit(tuple(search), tuple(body)))
        part, body = _NEXT[(part, kind)], []
    if part is not None:
        return Parsed((), f"edit {len(edits) + 1} is cut off: no {REPLACE!r} line (reply cut off?)")
    return Parsed(tuple(edits))


def _key(line: str) -> str:
    return " ".join(line.split())


def _exact(lines: Sequence[str], search: Sequence[str]) -> list[tuple[int, int]]:
    want = [s.rstrip() for s in search]
    m = len(want)
    return [(i, i + m) for i in range(len(lines) - m + 1)
            if lines[i].rstrip() == want[0] and [x.rstrip() for x in lines[i : i + m]] == want]


def _solid(lines: Sequence[str]) -> list[tuple[int, str]]:
    """The non-blank lines with their index, as whitespace-tolerant keys."""
    return [(i, _key(line)) for i, line in enumerate(lines) if line.strip()]


def _tolerant(lines: Sequence[str], search: Sequence[str]) -> list[tuple[int, int]]:
    have, want = _solid(lines), [k for _, k in _solid(search)]
    m = len(want)
    return [(have[i][0], have[i + m - 1][0] + 1) for i in range(len(have) - m + 1)
            if [k for _, k in have[i : i + m]] == want]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _reindent(replace: Sequence[str], found: str, searched: str) -> list[str]:
    """`replace` shifted by the indentation `found` (the file's first matched line) has beyond `searched`."""
    shift = _indent(found) - _indent(searched)
    if shift > 0:
        return [found[:shift] + r if r.strip() else r for r in replace]
    if shift < 0:
        return [r[min(-shift, _indent(r)) :] for r in replace]
    return list(replace)


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def nearest(lines: Sequence[str], search: Sequence[str]) -> str:
    """Where the file comes closest to `search`: the run of its lines most alike, told by its first line
    that differs from the SEARCH's."""
    have, want = _solid(lines), [k for _, k in _solid(search)]
    m = min(len(want), len(have))
    if m == 0:
        return "the file is empty"
    target = "\n".join(want[:m])
    starts = range(len(have) - m + 1)
    best = max(starts, key=lambda i: difflib.SequenceMatcher(None, "\n".join(k for _, k in have[i : i + m]),
                                                             target, autojunk=False).ratio())
    j = next((j for j in range(m) if have[best + j][1] != want[j]), m - 1)
    line_no, text = have[best + j][0] + 1, lines[have[best + j][0]]
    return f'nearest: line {line_no} reads "{_short(text)}" where the SEARCH has "{_short(want[j])}"'


def _places(spots: Sequence[tuple[int, int]]) -> str:
    return ", ".join(str(a + 1) for a, _ in spots[:5]) + (", ..." if len(spots) > 5 else "")


def _apply_one(lines: list[str], edit: Edit) -> tuple[list[str] | None, str, bool]:
    """(new lines, "", tolerant?) or (None, why it does not apply, False)."""
    if not any(s.strip() for s in edit.search):
        return None, "its SEARCH part is empty (quote the lines to replace)", False
    for tolerant, find in ((False, _exact), (True, _tolerant)):
        spots = find(lines, edit.search)
        if len(spots) > 1:
            return None, (f"its SEARCH text matches {len(spots)} places (lines {_places(spots)}); quote more "
                          "lines so that it matches one"), False
        if spots:
            (a, b), first = spots[0], next(s for s in edit.search if s.strip())
            new = _reindent(edit.replace, lines[a], first) if tolerant else list(edit.replace)
            return lines[:a] + new + lines[b:], "", tolerant
    return None, f"its SEARCH text matches nothing; {nearest(lines, edit.search)}", False


def apply_edits(text: str, edits: Sequence[Edit], file: str) -> Applied:
    """`text` with `edits` applied in order; the first that does not apply is the problem, naming it."""
    lines, tolerant = text.split("\n"), 0
    for k, edit in enumerate(edits, 1):
        new, why, loose = _apply_one(lines, edit)
        if new is None:
            return Applied(None, f"{file}, edit {k}: {why}")
        lines, tolerant = new, tolerant + loose
    return Applied("\n".join(lines), None, tolerant)


def matches(text: str, edit: Edit) -> bool:
    """Whether `edit` applies to `text` (for a block that names no file, or the wrong one)."""
    return _apply_one(text.split("\n"), edit)[0] is not None


# -- making edits (the offline operator's answers, the loopback server's unhelpful ones) ------------------

def edit_block(name: str, edits: Sequence[Edit]) -> str:
    """`edits` as one fenced block named `name`, in the format above."""
    parts = [name]
    for e in edits:
        parts += [SEARCH, *e.search, DIVIDER, *e.replace, REPLACE]
    body = "\n".join(parts)
    fence = fence_for(body)
    return f"{fence}python\n{body}\n{fence}"


def _unique(lines: Sequence[str], a: int, b: int) -> bool:
    return any(x.strip() for x in lines[a:b]) and len(_exact(lines, lines[a:b])) == 1


def _merge(hunks: list[list[int]], k: int, lo: int, hi: int) -> int | None:
    """Hunk k joined with the hunk it meets (its old start at the one before's end, or its old end at the
    one after's start): the joined hunk's index; None when it meets none."""
    h = hunks[k]
    if k and h[0] == lo:
        hunks[k - 1][1], hunks[k - 1][3] = h[1], h[3]
        del hunks[k]
        return k - 1
    if k + 1 < len(hunks) and h[1] == hi:
        h[1], h[3] = hunks[k + 1][1], hunks[k + 1][3]
        del hunks[k + 1]
        return k
    return None


def _widen(old: Sequence[str], hunks: list[list[int]]) -> bool:
    """Grow each hunk ([old start, old end, new start, new end]) by a line of context on each side until its
    old lines are found once in `old`, joining it with a hunk it meets. False when that cannot be done."""
    k = 0
    while k < len(hunks):
        h = hunks[k]
        lo = hunks[k - 1][1] if k else 0
        hi = hunks[k + 1][0] if k + 1 < len(hunks) else len(old)
        if _unique(old, h[0], h[1]):
            k += 1
            continue
        joined = _merge(hunks, k, lo, hi)
        if joined is not None:
            k = joined
        elif h[0] == 0 and h[1] == len(old):
            return False
        else:
            da, db = int(h[0] > lo), int(h[1] < hi)
            h[:] = [h[0] - da, h[1] + db, h[2] - da, h[3] + db]
    return True


def edits_between(old: str, new: str) -> tuple[Edit, ...] | None:
    """Edits that turn `old` into `new`, each SEARCH found once where it applies; None when that cannot be
    done (a file of repeated lines): the caller then gives the whole file."""
    a, b = old.split("\n"), new.split("\n")
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    hunks = [[i1, i2, j1, j2] for tag, i1, i2, j1, j2 in ops if tag != "equal"]
    if not hunks or not _widen(a, hunks):
        return None if hunks else ()
    edits = tuple(Edit(tuple(a[i1:i2]), tuple(b[j1:j2])) for i1, i2, j1, j2 in hunks)
    return edits if apply_edits(old, edits, "").text == new else None  # an edit's text made a later one twice
