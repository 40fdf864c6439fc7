"""Per-channel settings: the cluster a channel's commands target when none is named."""

from __future__ import annotations

from sqlmodel import Session

from storage.db import writes
from storage.models import ChannelDefault, utcnow


@writes
def set_channel_default(
    channel: str, cluster: str, *, session: Session, set_by: str | None = None
) -> ChannelDefault:
    """Make ``cluster`` the channel's default (replacing any previous one)."""
    row = session.get(ChannelDefault, channel, populate_existing=True)
    if row is None:
        row = ChannelDefault(channel=channel, cluster=cluster)
    row.cluster = cluster
    row.set_by = set_by
    row.set_at = utcnow()
    session.add(row)
    session.commit()
    return row


def channel_default(channel: str, *, session: Session) -> str | None:
    """The channel's default cluster, if one was set."""
    row = session.get(ChannelDefault, channel, populate_existing=True)
    return row.cluster if row else None
