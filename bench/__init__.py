"""Benchmarks of the bot against the local Slack: ``uv run python -m bench.<name>``."""
