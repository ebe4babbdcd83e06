"""Alembic migrations of the station database (run through inspector.storage.migrate)."""
