"""initial lineage schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 19:40:39.272327
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("task_path", sa.Text(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "campaign_leases",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "islands",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("island", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.PrimaryKeyConstraint("campaign_id", "island"),
    )
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("island", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("parent2_id", sa.Integer(), nullable=True),
        sa.Column("operator", sa.String(length=32), nullable=False),
        sa.Column("persona", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("fitness", sa.Float(), nullable=True),
        sa.Column("parent_fitness", sa.Float(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("origin", sa.JSON(), nullable=True),
        sa.Column("event_no", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id", "island"],
            ["islands.campaign_id", "islands.island"],
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["parent2_id"],
            ["candidates.id"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["candidates.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "code_hash", name="uq_candidates_campaign_code_hash"),
        sa.UniqueConstraint("campaign_id", "event_no", name="uq_candidates_campaign_event_no"),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_candidates_credit",
            ["campaign_id", "persona", "operator", "status", "fitness", "parent_fitness"],
            unique=False,
        )
        batch_op.create_index("ix_candidates_island", ["campaign_id", "island", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_candidates_parent2_id"), ["parent2_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_candidates_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_candidates_top", ["campaign_id", "status", "fitness"], unique=False)

    op.create_table(
        "candidate_files",
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["blobs.sha256"],
        ),
        sa.PrimaryKeyConstraint("candidate_id", "name"),
    )
    with op.batch_alter_table("candidate_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_candidate_files_sha256"), ["sha256"], unique=False)

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("best_vloss", sa.Float(), nullable=True),
        sa.Column("returned_vloss", sa.Float(), nullable=True),
        sa.Column("test_loss", sa.Float(), nullable=True),
        sa.Column("vloss_history", sa.JSON(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("elapsed_s", sa.Float(), nullable=True),
        sa.Column("startup_s", sa.Float(), nullable=True),
        sa.Column("wall_s", sa.Float(), nullable=True),
        sa.Column("peak_mem_mb", sa.Float(), nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("stdout_path", sa.Text(), nullable=True),
        sa.Column("stderr_path", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("candidate_id", "seed", name="uq_evaluations_candidate_seed"),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index("ix_evaluations_status", ["candidate_id", "status", "seed"], unique=False)

    op.create_table(
        "llm_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("persona", sa.String(length=200), nullable=True),
        sa.Column("operator", sa.String(length=32), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_hash", sa.String(length=64), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_llm_calls_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_llm_calls_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index("ix_llm_calls_credit", ["campaign_id", "persona", "operator", "cost_usd"], unique=False)
        batch_op.create_index(
            "ix_llm_calls_usage", ["campaign_id", "tokens_in", "tokens_out", "cost_usd", "error"], unique=False
        )

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("island", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id", "island"],
            ["islands.campaign_id", "islands.island"],
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
        ),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidates.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "island", "candidate_id", name="uq_memberships_island_candidate"),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index("ix_memberships_via", ["campaign_id", "island", "via"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_via")
        batch_op.drop_index(batch_op.f("ix_memberships_candidate_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_llm_calls_usage")
        batch_op.drop_index("ix_llm_calls_credit")
        batch_op.drop_index(batch_op.f("ix_llm_calls_candidate_id"))
        batch_op.drop_index(batch_op.f("ix_llm_calls_campaign_id"))

    op.drop_table("llm_calls")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluations_status")

    op.drop_table("evaluations")
    with op.batch_alter_table("candidate_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_candidate_files_sha256"))

    op.drop_table("candidate_files")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index("ix_candidates_top")
        batch_op.drop_index(batch_op.f("ix_candidates_parent_id"))
        batch_op.drop_index(batch_op.f("ix_candidates_parent2_id"))
        batch_op.drop_index("ix_candidates_island")
        batch_op.drop_index("ix_candidates_credit")

    op.drop_table("candidates")
    op.drop_table("islands")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_campaign_id"))

    op.drop_table("events")
    op.drop_table("campaign_leases")
    op.drop_table("campaigns")
    op.drop_table("blobs")
