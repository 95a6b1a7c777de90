"""The lineage database: a campaign's whole history, and the only code in the project that speaks SQL.

Open it with `open_db(url)`; every other function takes the returned `Database` and gives back plain
values (ids, the frozen dataclasses of values.py, counts), never ORM objects.
"""

from evolve.lineage.constants import (
    CANDIDATE_STATUSES,
    EVENT_KINDS,
    OPERATORS,
    PENDING,
    RUNNING,
    DuplicateCode,
    duplicate_reason,
)
from evolve.lineage.db import Database, campaign_location, head_revision, open_db, sqlite_url
from evolve.lineage.diff import diff
from evolve.lineage.export import TABLES, export_rows
from evolve.lineage.lease import (
    LeaseHeld,
    LeaseInfo,
    LeaseLost,
    acquire_lease,
    current_lease,
    new_owner,
    release_lease,
    renew_lease,
)
from evolve.lineage.origins import earlier_ancestry, origin
from evolve.lineage.queries import (
    Member,
    ancestry,
    campaign,
    campaign_id,
    campaigns,
    candidate,
    candidate_files,
    costs,
    curve,
    descendants,
    evaluated_pairs,
    find_by_hash,
    members,
    ok_losses,
    status_summary,
    top,
)
from evolve.lineage.record import add_candidate, create_campaign, finish_candidate
from evolve.lineage.report_queries import (
    cost_points,
    evaluation_times,
    events_of_kind,
    failure_reasons,
    files_of,
    llm_usage,
    scored_memberships,
    seed_evaluations,
)
from evolve.lineage.sql import SqlResult, run_readonly
from evolve.lineage.stats import Credit, CreditTables, IslandStats, island_stats, persona_stats
from evolve.lineage.transaction import Transaction, transaction
from evolve.lineage.values import CampaignInfo, Candidate, CandidateDetail, StatusSummary, StoredEvaluation

__all__ = [
    "cost_points",
    "costs",
    "curve",
    "CANDIDATE_STATUSES",
    "EVENT_KINDS",
    "OPERATORS",
    "PENDING",
    "RUNNING",
    "TABLES",
    "CampaignInfo",
    "Candidate",
    "CandidateDetail",
    "Credit",
    "CreditTables",
    "Database",
    "DuplicateCode",
    "IslandStats",
    "LeaseHeld",
    "LeaseInfo",
    "LeaseLost",
    "Member",
    "SqlResult",
    "StatusSummary",
    "StoredEvaluation",
    "Transaction",
    "acquire_lease",
    "add_candidate",
    "duplicate_reason",
    "ancestry",
    "campaign",
    "campaign_id",
    "campaign_location",
    "campaigns",
    "candidate",
    "candidate_files",
    "create_campaign",
    "current_lease",
    "descendants",
    "diff",
    "earlier_ancestry",
    "evaluated_pairs",
    "evaluation_times",
    "events_of_kind",
    "export_rows",
    "failure_reasons",
    "files_of",
    "find_by_hash",
    "finish_candidate",
    "head_revision",
    "island_stats",
    "llm_usage",
    "members",
    "new_owner",
    "ok_losses",
    "open_db",
    "origin",
    "persona_stats",
    "release_lease",
    "renew_lease",
    "run_readonly",
    "scored_memberships",
    "seed_evaluations",
    "sqlite_url",
    "status_summary",
    "top",
    "transaction",
]
