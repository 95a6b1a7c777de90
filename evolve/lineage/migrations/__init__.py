"""Alembic migrations of the lineage schema, run programmatically by `evolve.lineage.db.migrate`."""
