"""Alembic environment and revisions for the etcdops schema (applied by :func:`storage.migrate.migrate`)."""
