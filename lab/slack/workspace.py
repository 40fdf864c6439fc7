"""The in-memory state of the local Slack workspace and the operations Slack performs on it.

No I/O here: the Web API, Socket Mode, HTTP delivery and control API all mutate state through these
methods, so the rules (who may edit, what a reply is, who sees an ephemeral) live in one place.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lab.slack.clock import TsClock
from lab.slack.config import ChannelSpec, GroupSpec, SlackConfig, UserSpec
from lab.slack.model import JSON, ApiCall, Delivery, Edit, FileRecord, Message

RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60


class SlackError(Exception):
    """A Slack error code (``channel_not_found``...) to be answered as ``{"ok": false, ...}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ResponseTarget:
    """Where a ``response_url`` posts: the command's channel and user, or the clicked message."""

    channel: str
    user: str
    source_ts: str | None
    created_at: float


class Workspace:
    """Team, people, channels and everything said in them."""

    def __init__(self, config: SlackConfig, now: Callable[[], float] = time.time) -> None:
        self.config = config
        self.now = now
        self.clock = TsClock(now)
        self.messages: list[Message] = []
        self.files: dict[str, FileRecord] = {}
        self.api_calls: list[ApiCall] = []
        self.deliveries: dict[str, Delivery] = {}
        self.response_targets: dict[str, ResponseTarget] = {}
        self.response_uses: dict[str, int] = {}
        self.request_url = config.request_url
        self._seq = 0
        self._users = {u.id: u for u in (*config.users, config.bot_user)}
        self._channels = {c.id: c for c in config.channels}
        self._groups = {g.id: g for g in config.groups}

    # --- lookups -------------------------------------------------------------------------------

    def user(self, ref: str) -> UserSpec:
        """Find a user by id or name (``alice``/``@alice``/``U0ALICE``)."""
        ref = ref.lstrip("@")
        if ref in self._users:
            return self._users[ref]
        for user in self._users.values():
            if user.name == ref:
                return user
        raise SlackError("user_not_found")

    def channel(self, ref: str) -> ChannelSpec:
        """Find a channel by id or name; a user id opens (or reuses) a DM like ``chat.postMessage``."""
        name = ref.lstrip("#")
        if name in self._channels:
            return self._channels[name]
        for channel in self._channels.values():
            if channel.name == name:
                return channel
        if name in self._users:
            dm = ChannelSpec("D" + name, f"dm-{self._users[name].name}")
            self._channels[dm.id] = dm
            return dm
        raise SlackError("channel_not_found")

    def group(self, ref: str) -> GroupSpec:
        for group in self._groups.values():
            if ref in (group.id, group.handle, "@" + group.handle):
                return group
        raise SlackError("no_such_subteam")

    def groups(self) -> list[GroupSpec]:
        return list(self._groups.values())

    def message(self, channel: str, ts: str) -> Message:
        for message in self.messages:
            if message.channel == channel and message.ts == ts and not message.deleted:
                return message
        raise SlackError("message_not_found")

    def message_anywhere(self, ts: str) -> Message:
        for message in self.messages:
            if message.ts == ts and not message.deleted:
                return message
        raise SlackError("message_not_found")

    def user_json(self, user: UserSpec) -> JSON:
        """The ``user`` object of ``users.info``."""
        return {
            "id": user.id,
            "team_id": self.config.team_id,
            "name": user.name,
            "real_name": user.real_name,
            "is_bot": user.is_bot,
            "deleted": False,
            "profile": {"real_name": user.real_name, "display_name": user.name},
        }

    # --- changes -------------------------------------------------------------------------------

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def seq(self) -> int:
        return self._seq

    def post(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[JSON] | None = None,
        *,
        thread_ts: str | None = None,
        ephemeral_to: str | None = None,
        via: str = "api",
    ) -> Message:
        """Add a message; a ``thread_ts`` must name an existing top-level message, as in Slack."""
        ch = self.channel(channel)
        if thread_ts is not None:
            parent = self.message(ch.id, thread_ts)
            thread_ts = parent.thread_ts or parent.ts
        is_bot = user == self.config.bot_user.id
        message = Message(
            seq=self.next_seq(),
            channel=ch.id,
            ts=self.clock.next(),
            user=user,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            ephemeral_to=ephemeral_to,
            bot_id=self.config.bot_id if is_bot else None,
            via=via,
        )
        self.messages.append(message)
        return message

    def update(self, channel: str, ts: str, text: str | None, blocks: list[JSON] | None) -> Message:
        """Edit a message the bot wrote, keeping the previous version in ``edits``."""
        message = self.message(self.channel(channel).id, ts)
        if message.ephemeral_to is not None:
            # Slack keeps no copy of ephemerals: only their response_url can replace them.
            raise SlackError("message_not_found")
        if message.user != self.config.bot_user.id:
            raise SlackError("cant_update_message")
        message.edits.append(Edit(at=self.now(), text=message.text, blocks=message.blocks))
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks
        return message

    def new_file(self, name: str, title: str) -> FileRecord:
        record = FileRecord(id="F" + secrets.token_hex(5).upper(), name=name, title=title)
        self.files[record.id] = record
        return record

    def new_response_url(self, channel: str, user: str, source_ts: str | None) -> str:
        """Register a response_url token (valid for this workspace's lifetime)."""
        token = secrets.token_urlsafe(12)
        self.response_targets[token] = ResponseTarget(channel, user, source_ts, self.now())
        return token

    def use_response_url(self, token: str) -> ResponseTarget:
        """Slack honours a response_url at most five times within thirty minutes."""
        target = self.response_targets.get(token)
        if target is None:
            raise SlackError("invalid_token")
        if self.now() - target.created_at > RESPONSE_URL_LIFETIME:
            raise SlackError("expired_url")
        if self.response_uses.get(token, 0) >= RESPONSE_URL_USES:
            raise SlackError("used_url")
        self.response_uses[token] = self.response_uses.get(token, 0) + 1
        return target

    def record_call(self, method: str, kind: str, scope: str | None, error: str | None) -> None:
        self.api_calls.append(ApiCall(self.now(), method, kind, scope, error is None, error))

    def apply_response(self, target: ResponseTarget, body: dict[str, Any], via: str) -> Message | None:
        """Post or edit as Slack does for a ``response_url`` POST or an ack carrying a message."""
        text = str(body.get("text", ""))
        blocks = body.get("blocks")
        if body.get("delete_original") and target.source_ts is not None:
            self.message(target.channel, target.source_ts).deleted = True
            return None
        if body.get("replace_original") and target.source_ts is not None:
            original = self.message(target.channel, target.source_ts)
            original.edits.append(Edit(at=self.now(), text=original.text, blocks=original.blocks))
            original.text = text
            original.blocks = blocks
            return original
        in_channel = body.get("response_type") == "in_channel"
        return self.post(
            target.channel,
            self.config.bot_user.id,
            text,
            blocks,
            thread_ts=body.get("thread_ts"),
            ephemeral_to=None if in_channel else target.user,
            via=via,
        )
