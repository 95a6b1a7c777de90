"""a candidate's mean training FLOPs over its ok evaluations (the Pareto objective's cost), beside fitness

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("train_flops", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("candidates", "train_flops")  # in place: recreating the table would break its foreign keys
