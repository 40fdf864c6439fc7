"""Errors the storage layer raises, so callers can tell a bad configuration from a missing row."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for every error raised on purpose by the storage layer."""


class InvalidDatabaseURLError(StorageError, ValueError):
    """DATABASE_URL cannot be parsed or names a database etcdops does not support."""


class NotFoundError(StorageError, LookupError):
    """A row asked for by id does not exist (a typo in a run id typed into Slack, usually)."""
