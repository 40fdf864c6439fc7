"""Which cluster a command is about: the one it names, else the channel's default.

A channel's default is the one set with ``/etcd use CLUSTER``, else the cluster whose ``default_channel``
in the clusters file is this channel, else the only cluster there is. Anything else is a question back
to the user, listing the clusters they can name — never a guess.
"""

from __future__ import annotations

from sqlmodel import Session

from bot.clusters import Cluster, ClustersFile
from storage.channels import channel_default
from storage.db import SessionFactory


class UnknownCluster(ValueError):
    """The command names no cluster this bot knows, or none and the channel has no default."""


def _is_channel(wanted: str | None, channel_id: str, channel_name: str) -> bool:
    if not wanted:
        return False
    return wanted.lstrip("#") in (channel_id, channel_name.lstrip("#"))


def resolve_cluster(
    named: str | None,
    *,
    clusters: ClustersFile,
    sessions: SessionFactory,
    channel_id: str,
    channel_name: str = "",
    session: Session | None = None,
) -> Cluster:
    """``session``: read the channel's default in it (the caller's transaction), else in a session of
    its own."""
    known = ", ".join(f"`{c.name}`" for c in clusters.clusters)
    if named is not None:
        try:
            return clusters.get(named)
        except KeyError:
            raise UnknownCluster(f"there is no cluster `{named}`; the clusters are {known}.") from None
    if session is not None:
        chosen = channel_default(channel_id, session=session)
    else:
        with sessions() as own:
            chosen = channel_default(channel_id, session=own)
    if chosen is not None:
        try:
            return clusters.get(chosen)
        except KeyError:
            raise UnknownCluster(
                f"this channel's default cluster `{chosen}` is no longer in the clusters file; "
                f"name one ({known}) or set a new default with `/etcd use CLUSTER`."
            ) from None
    for cluster in clusters.clusters:
        if _is_channel(cluster.default_channel, channel_id, channel_name):
            return cluster
    if len(clusters.clusters) == 1:
        return clusters.clusters[0]
    raise UnknownCluster(
        f"this channel has no default cluster: name one ({known}), or set one with `/etcd use CLUSTER`."
    )
