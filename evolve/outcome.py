"""How a campaign ends: why it stops (`Stop`), the one stop state its loop keeps (`Stopping`), and what it
hands back (`Outcome`). Below evolve/campaign.py, so that what reads an outcome (evolve/summary.py, the CLI)
need not import the loop."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from evolve.kinds import CampaignStatus


class Stop(StrEnum):
    """Why a campaign ended; the outcome's status follows from it (STATUS_OF)."""

    BUDGET = "budget"  # evaluations or minutes used up
    SPEND = "spend"  # LLM cost or LLM calls used up; what was queued was trained
    NOTHING_LEFT = "nothing_left"
    USER = "user"  # Ctrl-C or SIGTERM
    NO_PROGRESS = "no_progress"  # the progress guard stopped the proposals
    SEED_FAILED = "seed_failed"


STATUS_OF = {Stop.USER: CampaignStatus.STOPPED, Stop.NO_PROGRESS: CampaignStatus.STOPPED,
             Stop.SEED_FAILED: CampaignStatus.FAILED}  # else finished


class Level(IntEnum):
    """How far a stop goes; a later stop only ever raises it."""

    PROPOSALS = 1  # no more proposals (spend, no progress); what is queued or running still trains
    GRACEFUL = 2  # what runs finishes; nothing new starts
    NOW = 3  # running evaluations are killed (a second Ctrl-C)


@dataclass(frozen=True)
class Stopping:
    cause: Stop
    reason: str
    level: Level

    def at_least(self, level: Level) -> bool:
        return self.level >= level


@dataclass(frozen=True)
class Outcome:
    status: CampaignStatus  # finished | stopped | failed
    cause: Stop
    reason: str
    evals_done: int  # every finished evaluation, those of imported programs included
    best_id: int | None
    best_fitness: float | None
    seed_id: int | None
    seed_fitness: float | None
    llm_calls: int = 0
    best_dir: str | None = None  # populations/NAME/best/, written when the run ends
    imported_evals: int = 0  # of evals_done, those that measured programs imported with --from (not counted)
