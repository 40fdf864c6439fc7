"""``/etcd use CLUSTER``: make a cluster the channel's default, so commands there need not name it."""

from __future__ import annotations

from bot.grammar import Use
from handlers.deps import BotDeps, Reply, Request
from storage.channels import set_channel_default


def handle(command: Use, request: Request, deps: BotDeps) -> Reply:
    cluster = request.cluster(command.cluster, deps)
    with deps.sessions() as session:
        set_channel_default(request.channel_id, cluster.name, session=session, set_by=request.user_id)
    return Reply(
        f"<@{request.user_id}> made *{cluster.name}* this channel's default cluster.", in_channel=True
    )
