"""``/etcd diagnose [CLUSTER]`` (seed 2.2, 2.3): record a read-only diagnosis run; the relay posts it."""

from __future__ import annotations

from bot.grammar import Diagnose
from handlers.deps import BotDeps, Reply, Request
from handlers.reports import request_report


def handle(command: Diagnose, request: Request, deps: BotDeps) -> Reply:
    return request_report("diagnose", "Diagnosing etcd on", command.cluster, request, deps)
