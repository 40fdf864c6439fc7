"""The bot's settings, read from the environment (and a ``.env`` file), as ``.env.example`` lists them.

Tokens and secrets are ``SecretStr``: they print as ``**********`` in logs, reprs and error messages.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./etcdops.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr | None = Field(default=None, description="Bot token (xoxb-...)")
    slack_app_token: SecretStr | None = Field(default=None, description="App-level token for Socket Mode")
    slack_signing_secret: SecretStr | None = Field(default=None, description="Signing secret (HTTP mode)")
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, description="Slack Web API base URL")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the database")
    etcdops_clusters: Path = Field(default=Path("clusters.yaml"), description="Path of the clusters file")
    etcdops_worker: str | None = Field(
        default=None, description="This runner's name (default etcdops@HOSTNAME); one process per name"
    )
    etcdops_run_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a killed runner's runs wait before another takes them"
    )
    etcdops_runner_workers: int = Field(default=4, ge=1, description="Runs executed at the same time")
    etcdops_kill_after_step: str | None = Field(
        default=None, description="Rehearsal only: SIGKILL this process right after this step's work"
    )
