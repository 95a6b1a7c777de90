"""The names rows may hold, and the small rules every write shares (one wording of a duplicate, bounded
log tails, content hashes). The names themselves are defined once, as enums, in evolve/kinds.py and
scoring/result.py."""

from __future__ import annotations

import hashlib

from evolve.kinds import CampaignStatus, EventKind, Operator, Queued
from scoring.result import STATUSES

OPERATORS = tuple(Operator)
PENDING, RUNNING = Queued.PENDING, Queued.RUNNING  # proposed and queued / being evaluated
CANDIDATE_STATUSES = (PENDING, RUNNING, *STATUSES)
CAMPAIGN_STATUSES = tuple(CampaignStatus)
EVENT_KINDS = tuple(EventKind)
VIAS = ("seed", "birth", "migration")
LOG_TAIL_CHARS = 4096  # rows keep a tail; whole logs stay on disk (stdout_path / stderr_path)


class DuplicateCode(Exception):
    """The campaign already holds a candidate with this normalized code hash (the screen missed it)."""

    def __init__(self, code_hash: str, existing_id: int) -> None:
        super().__init__(f"code hash {code_hash[:12]} already belongs to candidate {existing_id}")
        self.existing_id = existing_id


def duplicate_reason(existing_id: int) -> str:
    """The one wording of a duplicate, wherever it is caught (the campaign, or the unique code hash)."""
    return f"duplicate: the same program (up to comments and formatting) as candidate {existing_id}"


def check(value: str, allowed: tuple[str, ...], what: str) -> None:
    # Programming errors, not user input: a typo here would silently split statistics.
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


def bounded_tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    if len(text) <= limit:
        return text
    marker = "[...]\n"
    return marker + text[-(limit - len(marker)) :]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
