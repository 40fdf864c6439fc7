"""Records the local Slack keeps: messages with their edits, files, API calls and deliveries.

They are plain dataclasses that round-trip through JSON so the driver sees the same shapes the server
stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass
class Edit:
    """One ``chat.update`` (or ``replace_original``): what the message said before, and when it changed."""

    at: float
    text: str
    blocks: list[JSON] | None


@dataclass
class Message:
    """A message as a channel member would see it, plus who may see it and how it got there."""

    seq: int
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[JSON] | None = None
    thread_ts: str | None = None
    ephemeral_to: str | None = None
    bot_id: str | None = None
    edits: list[Edit] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    deleted: bool = False
    via: str = "api"

    def to_json(self) -> JSON:
        return asdict(self)

    @classmethod
    def from_json(cls, data: JSON) -> Message:
        edits = [Edit(**e) for e in data.get("edits", [])]
        return cls(**{**data, "edits": edits})

    def slack_view(self) -> JSON:
        """The message object Slack puts in API answers and interaction payloads."""
        view: JSON = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts}
        if self.bot_id is not None:
            view["bot_id"] = self.bot_id
        if self.blocks is not None:
            view["blocks"] = self.blocks
        if self.thread_ts is not None:
            view["thread_ts"] = self.thread_ts
        if self.edits:
            view["edited"] = {"user": self.user, "ts": self.ts}
        return view


@dataclass
class FileRecord:
    """An uploaded file: kept whole so tests can check what the bot attached."""

    id: str
    name: str
    title: str
    content: bytes = b""
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    completed: bool = False

    def to_json(self) -> JSON:
        data = asdict(self)
        data["content"] = self.content.decode("latin-1")
        return data

    @classmethod
    def from_json(cls, data: JSON) -> FileRecord:
        return cls(**{**data, "content": str(data["content"]).encode("latin-1")})


@dataclass(frozen=True)
class ApiCall:
    """One Web API call: enough to compare the manifest's scopes with what the bot really uses."""

    at: float
    method: str
    token_kind: str
    scope: str | None
    ok: bool
    error: str | None

    def to_json(self) -> JSON:
        return asdict(self)


@dataclass
class Attempt:
    """One try at delivering an envelope (Socket Mode retries make several)."""

    retry_attempt: int
    connection: str
    sent_at: float


@dataclass
class Delivery:
    """The life of one slash command or interaction, measured by the server."""

    id: str
    kind: str
    mode: str
    user: str
    channel: str
    attempts: list[Attempt] = field(default_factory=list)
    acked: bool = False
    acked_by: str | None = None
    ack_latency_ms: float | None = None
    ack_payload: JSON | None = None
    http_status: int | None = None
    error: str | None = None

    def to_json(self) -> JSON:
        return asdict(self)
