"""Read a rendered prompt back, as the offline operator receives it: operator, persona tags, parent
files, constraints, the parent's last change, the earlier attempts from the parent and, for repair, its
failure.

Only the part after the last '# This request' line is read, so the persona's own example blocks are
never mistaken for files. Headings are prompts.py's; a prompt this cannot read gives None.
"""

from __future__ import annotations

import re

from evolve.operators.context import Request
from evolve.operators.prompts import (
    ATTEMPTS_HEADING,
    ERROR_HEADING,
    PARENT_A_HEADING,
    PARENT_B_HEADING,
    PARENT_HEADING,
)
from evolve.operators.reply import name_block, scan_fences, split_lines

_REQUEST = "# This request"




def _field(lines: list[str], prefix: str) -> str:
    return next((line[len(prefix):].strip() for line in lines if line.startswith(prefix)), "")


def read_prompt(prompt: str) -> Request | None:
    lines = split_lines(prompt)
    starts = [i for i, line in enumerate(lines) if line.strip() == _REQUEST]
    if not starts:
        return None
    lines = lines[starts[-1]:]
    raws = scan_fences(lines)
    inside = set()
    for raw in raws:
        inside.update(range(raw.start, raw.end))
    outside = [line for i, line in enumerate(lines) if i not in inside]  # prose and headings only
    operator = _field(outside, "Operator:")
    persona = _field(outside, "Persona:")
    tags = tuple(t.strip() for t in persona.split("tags:", 1)[-1].split(",") if t.strip()) \
        if "tags:" in persona else ()
    # attribute each block and each "identical to parent A" line to the heading above it
    heading_at = {}
    heading = ""
    for i, line in enumerate(lines):
        if i not in inside and line.startswith("## "):
            heading = line
        heading_at[i] = heading
    sections: dict[str, dict[str, str]] = {}
    error = ""
    for raw in raws:
        h = heading_at[raw.start]
        block = name_block(raw, "")
        if h.startswith(ERROR_HEADING):  # the block is named `log` on its first line (prompts._error)
            body = raw.body[1:] if raw.body and raw.body[0].strip() == "log" else raw.body
            error = h + "\n" + "".join(line + "\n" for line in body)
        elif block.name and block.closed:
            key = next((k for k in (PARENT_A_HEADING, PARENT_B_HEADING, PARENT_HEADING) if h.startswith(k)), None)
            if key:
                sections.setdefault(key, {})[block.name] = block.text
    editable_line = _field(outside, "- Editable files:")
    editable = tuple(n.strip() for n in editable_line.split(". Answer")[0].split(",") if n.strip()) \
        if editable_line else tuple(sections.get(PARENT_HEADING, sections.get(PARENT_A_HEADING, {})))
    parent = sections.get(PARENT_HEADING) or sections.get(PARENT_A_HEADING)
    if not operator or not parent:
        return None
    other = sections.get(PARENT_B_HEADING)
    if operator == "crossover":
        other = dict(other or {})
        for line in outside:
            m = re.match(r"^(\S+): identical to parent A$", line)
            if m and m.group(1) in parent:
                other[m.group(1)] = parent[m.group(1)]
    frozen = _field(outside, "- Frozen file:")
    frozen_file = frozen.split(";")[0].strip() or None
    markers = re.findall(r"'([^']*)'", frozen)
    if not error:
        error = "".join(line + "\n" for line in outside if line.startswith(ERROR_HEADING))
    tried = tuple(line for i, line in enumerate(lines) if i not in inside and line.startswith("- candidate ")
                  and heading_at[i].startswith(ATTEMPTS_HEADING))
    return Request(
        operator=operator,
        persona=persona.split(" ", 1)[0].rstrip(";"),
        tags=tags,
        parent=dict(parent),
        other=other,
        editable=editable,
        frozen_file=frozen_file,
        end_marker=markers[1] if len(markers) > 1 else None,
        frozen_names=tuple(n.strip() for n in _field(outside, "- Frozen names (read them, never rebind them):")
                           .split(",") if n.strip()),
        last_change=_field(outside, "- Parent's last change:"),
        failure=error,
        tried=tried,
    )
