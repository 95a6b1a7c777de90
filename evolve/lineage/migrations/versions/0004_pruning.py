"""pruning: each monitoring loss's step on evaluations, the reference curve's candidate on candidates

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("vloss_steps", sa.JSON(), nullable=True))
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("prune_reference", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("candidates", "prune_reference")  # in place: recreating the tables would break foreign keys
    op.drop_column("evaluations", "vloss_steps")
