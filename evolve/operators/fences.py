"""Fenced file blocks: the one format both prompts and replies use for a file.

A block is a Markdown fence whose first inner line is the file name (the seeds' format):

    ```python
    model.py
    <file text>
    ```

The fence is made longer than any backtick run inside the text (CommonMark's rule), so a file that
itself contains ``` cannot end its block early.
"""

from __future__ import annotations

import re

_RUN = re.compile(r"`{3,}")


def fence_for(text: str) -> str:
    longest = max((len(m.group()) for m in _RUN.finditer(text)), default=0)
    return "`" * max(3, longest + 1)


def file_block(name: str, text: str) -> str:
    """`text` as a fenced block named `name`; an empty text gives the empty block meaning 'unchanged'."""
    fence = fence_for(text)
    body = text if not text or text.endswith("\n") else text + "\n"
    return f"{fence}python\n{name}\n{body}{fence}"
