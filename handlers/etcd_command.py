"""The ``/etcd`` slash command: parse, answer at once, and hand real work to the runner.

The listener never touches a cluster: it validates the text, replies within Slack's 3 seconds, and (as
the runner lands) records a run. Usage mistakes get an ephemeral message with the right usage.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.grammar import Help, UsageError, help_text, parse


def register(app: App, deps: Any) -> None:
    @app.command("/etcd")
    def etcd(ack: Ack, command: dict[str, Any]) -> None:
        try:
            parsed = parse(command.get("text") or "")
        except UsageError as exc:
            ack(response_type="ephemeral", text=f":warning: {exc}")
            return
        if isinstance(parsed, Help):
            ack(response_type="ephemeral", text=help_text(parsed.topic))
            return
        name = (command.get("text") or "").split()[0]
        ack(
            response_type="ephemeral",
            text=f"`/etcd {name}` is understood, but this build cannot run it yet: "
            "the runner that executes it is still being built.",
        )
