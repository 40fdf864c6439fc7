"""The bot's settings, read from the environment (and a ``.env`` file), as ``.env.example`` lists them.

Tokens and secrets are ``SecretStr``: they print as ``**********`` in logs, reprs and error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    etcdops_runner_workers: int = Field(
        default=4, ge=0, description="Runs executed at once (0: none here; `etcdops runner` runs them)"
    )
    etcdops_kill_after_step: str | None = Field(
        default=None, description="Rehearsal only: SIGKILL this process right after this step's work"
    )
    etcdops_scheduler_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often each process looks for due schedules (and the lease)"
    )
    etcdops_scheduler_lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a stopped lease holder blocks others from firing"
    )
    etcdops_health_watch_seconds: float = Field(
        default=60.0, gt=0, description="How often clusters are checked for a member turning bad or good"
    )
    etcdops_scratch_dir: Path | None = Field(
        default=None, description="Where backups are downloaded and restored for verification (default: tmp)"
    )
    etcdops_ops_port: int = Field(
        default=9090, ge=0, le=65535, description="Port of /healthz, /readyz and /metrics (0: not served)"
    )
    etcdops_ops_host: str = Field(
        default="0.0.0.0",  # noqa: S104 - probes and Prometheus reach the pod on its own address
        description="Address the ops port binds",
    )
    etcdops_log_format: Literal["json", "text"] = Field(
        default="json", description="`etcdops serve` logs one JSON object per line, or plain text"
    )
