"""The workspace a local Slack starts with: team, people, groups, channels, tokens and scopes.

Defaults describe the etcd team used in tests and the demo; a YAML file can replace any part.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lab.slack.scopes import DEFAULT_APP_SCOPES, DEFAULT_BOT_SCOPES


@dataclass(frozen=True)
class UserSpec:
    """A workspace member (or the bot's own user)."""

    id: str
    name: str
    real_name: str
    is_bot: bool = False


@dataclass(frozen=True)
class GroupSpec:
    """A user group such as ``@etcd-approvers``."""

    id: str
    handle: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class ChannelSpec:
    """A public channel the bot is in."""

    id: str
    name: str


def _default_users() -> tuple[UserSpec, ...]:
    return (
        UserSpec("U0ALICE", "alice", "Alice Admin"),
        UserSpec("U0BOB", "bob", "Bob Approver"),
        UserSpec("U0CAROL", "carol", "Carol Approver"),
        UserSpec("U0MALLORY", "mallory", "Mallory Outsider"),
    )


@dataclass(frozen=True)
class SlackConfig:
    """Everything needed to start a local Slack; immutable so a running server cannot drift from it."""

    team_id: str = "T0LAB"
    team_domain: str = "etcdlab"
    app_id: str = "A0LAB"
    bot_user: UserSpec = UserSpec("U0BOT", "etcdops", "etcdops", is_bot=True)
    bot_id: str = "B0BOT"
    bot_token: str = "xoxb-lab-0000-bot"  # noqa: S105 - fake lab credential
    app_token: str = "xapp-1-A0LAB-0000-app"  # noqa: S105 - fake lab credential
    signing_secret: str = "lab-signing-secret-0123456789abcdef"  # noqa: S105 - fake lab credential
    verification_token: str = "lab-verification-token"  # noqa: S105 - fake lab credential
    users: tuple[UserSpec, ...] = field(default_factory=_default_users)
    groups: tuple[GroupSpec, ...] = (GroupSpec("S0APPROVERS", "etcd-approvers", ("U0BOB", "U0CAROL")),)
    channels: tuple[ChannelSpec, ...] = (ChannelSpec("C0ETCDLAB", "etcd-lab"),)
    bot_scopes: tuple[str, ...] = DEFAULT_BOT_SCOPES
    app_scopes: tuple[str, ...] = DEFAULT_APP_SCOPES
    request_url: str | None = None
    ack_timeout: float = 3.0
    max_retries: int = 3

    def with_changes(self, **changes: Any) -> SlackConfig:
        """A copy with some fields replaced (tests use it to drop a scope or shorten timeouts)."""
        return replace(self, **changes)


def load_config(path: Path | None, **overrides: Any) -> SlackConfig:
    """Read a YAML file (any subset of SlackConfig's fields) and apply command-line overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text())
        if loaded is not None:
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: expected a mapping at top level")
            raw = dict(loaded)
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "bot_user":
            fields[key] = UserSpec(**{**value, "is_bot": True})
        elif key == "users":
            fields[key] = tuple(UserSpec(**u) for u in value)
        elif key == "groups":
            fields[key] = tuple(
                GroupSpec(id=g["id"], handle=g["handle"], members=tuple(g["members"])) for g in value
            )
        elif key == "channels":
            fields[key] = tuple(ChannelSpec(**c) for c in value)
        elif key in ("bot_scopes", "app_scopes"):
            fields[key] = tuple(value)
        else:
            fields[key] = value
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return SlackConfig(**fields)
