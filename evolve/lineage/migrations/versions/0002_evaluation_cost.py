"""what each evaluation's training cost: CPU seconds, largest resident set, FLOPs per step and in all

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("cpu_s", "max_rss_mb", "step_flops", "train_flops")


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
