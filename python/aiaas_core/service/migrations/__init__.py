"""Alembic migrations, run programmatically by db.migrate() at server start."""
