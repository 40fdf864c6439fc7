"""``/etcd status [CLUSTER]``: record a read-only status run; the relay posts the report when it is in."""

from __future__ import annotations

from bot.grammar import Status
from handlers.deps import BotDeps, Reply, Request
from handlers.reports import request_report


def handle(command: Status, request: Request, deps: BotDeps) -> Reply:
    return request_report("status", "Checking etcd on", command.cluster, request, deps)
