"""What a candidate changed: a unified diff of each file against its first parent."""

from __future__ import annotations

import difflib
from typing import Any

from evolve.lineage.db import Database
from evolve.lineage.queries import candidate, candidate_files


def diff(db: Database, campaign_id: int, candidate_id: int) -> dict[str, Any]:
    """{"candidate", "parent_id", "files": [{"name", "status", "diff"}]} for every file either side holds.

    status is added / removed / changed / unchanged; a seed (no parent) has no files to compare.
    """
    child = candidate(db, campaign_id, candidate_id)
    parent_id = child.candidate.parent_id
    if parent_id is None:
        return {"candidate": candidate_id, "parent_id": None, "files": []}
    return {"candidate": candidate_id, "parent_id": parent_id,
            "files": file_diffs(candidate_files(db, parent_id), child.files, parent_id, candidate_id)}


def file_diffs(before: dict[str, str], after: dict[str, str], parent_id: int, child_id: int) -> list[dict[str, str]]:
    """Every file either side holds, with its status (added / removed / changed / unchanged) and a unified
    diff; for callers that already read both file sets."""
    files = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        status = "added" if a is None else "removed" if b is None else "unchanged" if a == b else "changed"
        lines = difflib.unified_diff(
            (a or "").splitlines(keepends=True),
            (b or "").splitlines(keepends=True),
            fromfile=f"{parent_id}/{name}",
            tofile=f"{child_id}/{name}",
        )
        # A last line without a newline would run into the next hunk line; end every line.
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        files.append({"name": name, "status": status, "diff": text})
    return files
