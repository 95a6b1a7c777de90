"""Alembic environment: always given a live connection by `evolve.lineage.db`, never reads an ini file."""

from __future__ import annotations

from alembic import context

from evolve.lineage.models import Base

connection = context.config.attributes["connection"]
# Batch mode lets future ALTERs work on SQLite (which rebuilds the table); PostgreSQL ignores it.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
