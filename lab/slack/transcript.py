"""Who sees which message: pure filters over the transcript, shared by the control API and tests."""

from __future__ import annotations

from collections.abc import Iterable

from lab.slack.model import Message

EVERYONE = "*"


def visible(message: Message, as_user: str | None) -> bool:
    """Ephemerals are shown only to their recipient; ``EVERYONE`` (for the demo) sees them all."""
    if message.deleted:
        return False
    if message.ephemeral_to is None:
        return True
    return as_user is not None and (as_user == EVERYONE or as_user == message.ephemeral_to)


def channel_view(messages: Iterable[Message], channel: str, as_user: str | None) -> list[Message]:
    """A channel's messages in ``ts`` order, as ``as_user`` would see them (thread replies included)."""
    return sorted((m for m in messages if m.channel == channel and visible(m, as_user)), key=lambda m: m.seq)


def thread_view(messages: Iterable[Message], channel: str, ts: str, as_user: str | None) -> list[Message]:
    """The parent message and its replies."""
    return [m for m in channel_view(messages, channel, as_user) if m.ts == ts or m.thread_ts == ts]


def since(messages: Iterable[Message], seq: int, as_user: str | None) -> list[Message]:
    """Messages created after ``seq`` that ``as_user`` can see: the replies to a command."""
    return sorted((m for m in messages if m.seq > seq and visible(m, as_user)), key=lambda m: m.seq)
