"""What every listener gets: the settings, the clusters file and database sessions, plus the small
value types a subcommand handler takes and returns (so handlers are plain functions, easy to test)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from bot.clusters import Cluster, ClustersFile
from bot.settings import Settings
from bot.targets import resolve_cluster
from runner.scheduler import ScheduleService
from storage.db import SessionFactory


@dataclass(frozen=True)
class BotDeps:
    settings: Settings
    clusters: ClustersFile
    sessions: SessionFactory
    schedules: ScheduleService | None = None  # None where nothing may be scheduled (some tests)


@dataclass(frozen=True)
class Request:
    """Who typed the command, and where."""

    user_id: str
    channel_id: str
    channel_name: str = ""
    trigger_id: str | None = None  # Slack's ID of this one command: a second delivery of it starts nothing

    @classmethod
    def from_command(cls, command: dict[str, Any]) -> Request:
        return cls(
            user_id=str(command.get("user_id", "")),
            channel_id=str(command.get("channel_id", "")),
            channel_name=str(command.get("channel_name", "")),
            trigger_id=str(command["trigger_id"]) if command.get("trigger_id") else None,
        )

    def cluster(self, named: str | None, deps: BotDeps, session: Session | None = None) -> Cluster:
        return resolve_cluster(
            named,
            clusters=deps.clusters,
            sessions=deps.sessions,
            channel_id=self.channel_id,
            channel_name=self.channel_name,
            session=session,
        )


@dataclass(frozen=True)
class Reply:
    """The answer given with the ack: ephemeral (only the requester sees it) unless ``in_channel``."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    in_channel: bool = False

    def ack_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "text": self.text,
            "response_type": "in_channel" if self.in_channel else "ephemeral",
        }
        if self.blocks:
            kwargs["blocks"] = self.blocks
        return kwargs
