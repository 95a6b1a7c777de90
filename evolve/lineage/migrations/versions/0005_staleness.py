"""staleness: evaluations finished when a candidate's parent was chosen, and before its own evaluation began

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("chosen_after", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("staleness", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("candidates", "staleness")  # in place: recreating the tables would break foreign keys
    op.drop_column("candidates", "chosen_after")
