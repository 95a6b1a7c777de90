"""The reply parser: an LLM's answer -> the new file set, or a rejection with its reason.

Exact rules (tests/operators/test_reply.py holds one row per rule; edits: tests/operators/test_edits.py):

- A block is a Markdown fence (``` or ~~~, three or more) closed by the same character repeated at least
  as often, alone on its line. A fence line with an info string (```python) never closes a block.
- A block's file name is taken from, in this order: a `title=` / `file=` / `filename=` / `name=` attribute
  or a bare file name in the fence's info string (```python model.py, ```python:model.py); the first
  non-blank line inside the block when it is only a file name (the seeds' format: `model.py`), or a comment
  holding only a file name (`# model.py`, `# file: model.py`) - that line is then dropped from the file;
  the last non-blank line before the fence when it mentions exactly one file name (`**model.py**:`).
  A path keeps only its last component (`src/model.py` -> `model.py`).
- A block with no name belongs to the only editable file when the task has exactly one; otherwise it is
  ignored and noted. A name that is not an editable file is ignored and reported in `ignored`.
- An empty block, or one holding only comments and blank lines (an echoed template), means the file is
  unchanged; so does a missing block.
- A block holding SEARCH/REPLACE edits (evolve/operators/edits.py) edits its file instead of replacing it;
  one with no name belongs to the editable file where its first edit applies, when there is one such file.
  A reply may give one file whole and edit another, whatever format the prompt asked for.
- A file given several times: its blocks are taken in order, a whole block replacing the text and an edit
  block editing it as it stands (so of whole blocks the last non-empty one wins: models restate a
  corrected version), noted.
- Outcomes, checked in this order:
  no fence at all (prose only, empty reply, edits outside a fence) -> `unparseable`;
  a block still open at the end of the reply that has content (a reply cut off by max tokens) ->
  `unparseable` (a still-open block with no content is ignored and noted);
  an edit block for a file that is not editable (or for no file) -> `edit_mismatch`, naming the block, the
  file and the editable file where its first SEARCH text is found, if any;
  no block names an editable file -> `unparseable`;
  an edit block with a marker missing or cut off -> `unparseable`, naming the file and the edit;
  an edit whose SEARCH text matches nothing, or several places -> `edit_mismatch`, naming the file, the
  edit and the nearest text found (or the places);
  a changed file that `ast.parse` refuses -> `syntax_error` naming the file and line;
  every file equal to the parent's (ignoring trailing whitespace) -> `no_op`;
  otherwise accepted: `files` is the parent's file set with the changed files replaced.
The parser never raises on any text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from evolve.kinds import Rejection
from evolve.operators.edits import apply_edits, is_edit_block, matches, parse_edits
from scoring import syntax

_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATTR = re.compile(r"""(?:title|file|filename|name|path)\s*=\s*["']?([^"'\s}]+)""")
_FILE_TOKEN = re.compile(r"[A-Za-z0-9_./\\-]*[A-Za-z0-9_-]\.py\b")
_BARE_NAME = re.compile(r"^\s*`?([A-Za-z0-9_./\\-]+\.py)`?\s*:?\s*$")
_COMMENT_NAME = re.compile(
    r"^\s*#\s*(?:(?:file|filename|path)\s*[:=]\s*)?`?([A-Za-z0-9_./\\-]+\.py)`?\s*(?:\([^)]*\))?\s*:?\s*$"
)
_SUMMARY_CHARS = 300


@dataclass(frozen=True)
class Block:
    name: str | None
    text: str
    closed: bool


@dataclass(frozen=True)
class Reply:
    """The parse of one reply. `rejection` is None when accepted; then `files` is the full new file set."""

    rejection: Rejection | None  # unparseable, syntax_error or no_op
    reason: str
    files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    changed: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.rejection is None


def _basename(name: str) -> str:
    return re.split(r"[/\\]", name)[-1]


def _name_from_info(info: str) -> str | None:
    m = _ATTR.search(info)
    if m:
        return _basename(m.group(1))
    tokens = _FILE_TOKEN.findall(info)
    return _basename(tokens[0]) if tokens else None


def _name_from_prose(line: str) -> str | None:
    names = {_basename(t) for t in _FILE_TOKEN.findall(line)}
    return names.pop() if len(names) == 1 else None


@dataclass(frozen=True)
class RawBlock:
    """A fence as found: its info string, inner lines, whether it was closed, and where it sits."""

    start: int  # index of the opening fence line
    end: int  # index of the line after the block
    info: str
    body: tuple[str, ...]
    closed: bool


def scan_fences(lines: Sequence[str]) -> list[RawBlock]:
    """Every fenced block in `lines`, by the fence rules above (shared with the offline prompt reader)."""
    found: list[RawBlock] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m or (m.group(1)[0] == "`" and "`" in m.group(2)):
            i += 1
            continue
        fence, start = m.group(1), i
        closer = re.compile(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        i += 1
        while i < len(lines) and not closer.match(lines[i]):
            i += 1
        closed = i < len(lines)
        found.append(RawBlock(start, i + 1, m.group(2), tuple(lines[start + 1 : i]), closed))
        i += 1
    return found


def name_block(raw: RawBlock, line_before: str) -> Block:
    """Find the block's file name (info string, first inner line, or the line before the fence)."""
    body = list(raw.body)
    name = _name_from_info(raw.info)
    first = next((k for k, line in enumerate(body) if line.strip()), None)
    if first is not None:
        inner = _BARE_NAME.match(body[first]) or _COMMENT_NAME.match(body[first])
        if inner:
            name = name or _basename(inner.group(1))
            if _basename(inner.group(1)) == name:
                body = body[first + 1 :]
    if name is None:
        name = _name_from_prose(line_before)
    text = "\n".join(body).strip("\n")
    return Block(name, text + "\n" if text else "", raw.closed)


def split_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def split_blocks(reply: str) -> tuple[list[Block], str]:
    """All fenced blocks of `reply`, named where a name is found, and the prose before the first one."""
    lines = split_lines(reply)
    raws = scan_fences(lines)
    blocks = []
    prev_end = 0
    for raw in raws:
        before = next((line for line in reversed(lines[prev_end : raw.start]) if line.strip()), "")
        blocks.append(name_block(raw, before))
        prev_end = raw.end
    prose = "\n".join(lines[: raws[0].start]) if raws else reply
    return blocks, " ".join(prose.split())[:_SUMMARY_CHARS]


def _has_code(text: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


def _same(a: str, b: str) -> bool:
    def norm(t: str) -> list[str]:
        return [line.rstrip() for line in t.rstrip().splitlines()]

    return norm(a) == norm(b)


def _syntax_problem(name: str, text: str) -> str | None:
    try:
        syntax.parse_shared(text, name)  # the guard reads the same tree next
    except SyntaxError as e:
        return f"{name} line {e.lineno}: {e.msg}"
    except Exception as e:  # null bytes (ValueError), absurd nesting (RecursionError, MemoryError)
        return f"{name}: cannot be parsed ({type(e).__name__}: {e})"
    return None


def _unreadable(blocks: Sequence[Block]) -> str | None:
    """Why the reply gives no blocks to read: none at all, or one left open with content in it (a reply
    cut off by max tokens); None when it does."""
    if not blocks:
        return "the reply has no fenced code block"
    for n, block in enumerate(blocks, 1):
        if not block.closed and block.text.strip():
            what = f"the block for {block.name}" if block.name else f"block {n}"
            return f"{what} is never closed (reply cut off?)"
    return None


def _file_of(block: Block, editable: Sequence[str], parent: Mapping[str, str]) -> str | None:
    """The file a block is for: its name; else the only editable file, or for edits the one editable file
    where its first edit applies."""
    if block.name is not None or len(editable) == 1:
        return block.name or editable[0]
    if not is_edit_block(block.text):
        return None
    first = parse_edits(block.text).edits[:1]
    found = [n for n in editable if first and matches(parent.get(n, ""), first[0])]
    return found[0] if len(found) == 1 else None


@dataclass
class _Gathered:
    """What the closed blocks of a reply give, file by file."""

    chosen: dict[str, list[str]] = field(default_factory=dict)  # editable file -> its blocks with code, in order
    counts: dict[str, int] = field(default_factory=dict)  # editable file -> the blocks naming it
    ignored: list[str] = field(default_factory=list)  # names that are not editable files
    notes: list[str] = field(default_factory=list)


def _stray_edits(n: int, block: Block, editable: Sequence[str], parent: Mapping[str, str]) -> str:
    """Why edit block `n` cannot be applied: it names no editable file. Says where its first edit applies."""
    first = parse_edits(block.text).edits[:1]
    found = [f for f in editable if first and matches(parent.get(f, ""), first[0])]
    where = f"its first SEARCH text is found in {', '.join(found) if found else 'no editable file'}"
    named = f"names {block.name}, not an editable file" if block.name else "names no file"
    return f"edit block {n} {named} ({', '.join(editable)}); {where}"


def _stray(blocks: Sequence[Block], editable: Sequence[str], parent: Mapping[str, str]) -> str | None:
    """Why the first closed edit block for no editable file cannot be applied; None when there is none."""
    return next((_stray_edits(n, b, editable, parent) for n, b in enumerate(blocks, 1)
                 if b.closed and is_edit_block(b.text) and _file_of(b, editable, parent) not in editable), None)


def _gather(blocks: Sequence[Block], editable: Sequence[str], parent: Mapping[str, str]) -> _Gathered:
    g = _Gathered()
    for n, block in enumerate(blocks, 1):
        name = _file_of(block, editable, parent)
        if not block.closed:  # an empty fence left open (one with content was refused before)
            g.notes.append(f"block {n} is an empty fence left open; ignored")
        elif name is None:
            g.notes.append(f"block {n} has no file name; ignored")
        elif name not in editable:
            if name not in g.ignored:
                g.ignored.append(name)
        else:
            g.counts[name] = g.counts.get(name, 0) + 1
            if _has_code(block.text):
                g.chosen.setdefault(name, []).append(block.text)
    g.notes += [f"{name} is given in {count} blocks; the last whole one is used, with the edits after it"
                for name, count in g.counts.items() if count > 1]
    return g


@dataclass(frozen=True)
class _Composed:
    """Each file the reply gives, its whole blocks and edits taken in order; or the first that failed."""

    files: dict[str, str]
    rejection: Rejection | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()


def _compose(chosen: Mapping[str, Sequence[str]], parent: Mapping[str, str]) -> _Composed:
    """A whole block replaces the file's text; an edit block edits the text as it stands."""
    files, notes = {}, []
    for name, texts in chosen.items():
        text = parent.get(name, "")
        for block in texts:
            if not is_edit_block(block):
                text = block
                continue
            parsed = parse_edits(block)
            if parsed.problem:
                return _Composed(files, Rejection.UNPARSEABLE, f"{name}: {parsed.problem}")
            applied = apply_edits(text, parsed.edits, name)
            if applied.text is None:
                return _Composed(files, Rejection.EDIT_MISMATCH, applied.problem or "")
            text = applied.text
            notes.append(f"{name}: {len(parsed.edits)} edits applied ({applied.tolerant} with whitespace tolerated)")
        files[name] = text
    return _Composed(files, notes=tuple(notes))


def _judge(chosen: Mapping[str, str], parent: Mapping[str, str], editable: Sequence[str], **seen) -> Reply:
    """The files the reply gives, against the parent's: a syntax error, no change, or the new file set."""
    problem = next(filter(None, (_syntax_problem(name, text) for name, text in chosen.items())), None)
    if problem:
        return Reply(Rejection.SYNTAX_ERROR, problem, **seen)
    changed = tuple(n for n in editable if n in chosen and not _same(chosen[n], parent.get(n, "")))
    if not changed:
        why = "every block is empty" if not chosen else "the reply repeats the parent's files unchanged"
        return Reply(Rejection.NO_OP, why, **seen)
    return Reply(None, "", MappingProxyType(_merged(parent, chosen, changed, editable)), changed, **seen)


def _merged(parent: Mapping[str, str], chosen: Mapping[str, str], changed: Sequence[str],
            editable: Sequence[str]) -> dict[str, str]:
    """The new file set: the parent's files with the changed ones replaced, in `editable`'s order."""
    return {n: (chosen[n] if n in changed else parent[n]) for n in editable if n in parent or n in changed}


def parse_reply(reply: str, parent: Mapping[str, str], editable: Sequence[str] | None = None) -> Reply:
    """Apply the rules above to `reply` against the parent's files."""
    editable = tuple(editable if editable is not None else parent)
    blocks, summary = split_blocks(reply)
    unreadable = _unreadable(blocks)
    if not blocks and is_edit_block(reply):
        unreadable = "the reply's SEARCH/REPLACE edits are not inside a fenced block named by their file"
    if unreadable:
        return Reply(Rejection.UNPARSEABLE, unreadable, summary=summary)
    g = _gather(blocks, editable, parent)
    seen = dict(ignored=tuple(g.ignored), notes=tuple(g.notes), summary=summary)
    stray = _stray(blocks, editable, parent)
    if stray:
        return Reply(Rejection.EDIT_MISMATCH, stray, **seen)
    if not g.counts:
        found = f" (blocks named: {', '.join(g.ignored)})" if g.ignored else ""
        why = f"no block names an editable file ({', '.join(editable)}){found}"
        return Reply(Rejection.UNPARSEABLE, why, **seen)
    composed = _compose(g.chosen, parent)
    if composed.rejection:
        return Reply(composed.rejection, composed.reason, **seen)
    return _judge(composed.files, parent, editable, **{**seen, "notes": tuple(g.notes) + composed.notes})
