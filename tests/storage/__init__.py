"""Tests of the storage layer, each run on SQLite and on a throwaway PostgreSQL."""
