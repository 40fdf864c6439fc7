"""``/etcd cancel RUN_ID`` and the Cancel button on a run's message: stop a run after its current step.

Cancelling only records the wish; the runner checks it between steps, so a step that already touched
the cluster is finished and journaled, never abandoned halfway.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.blocks import CANCEL_ACTION
from bot.grammar import Cancel
from handlers.deps import BotDeps, Reply, Request
from storage import runs
from storage.db import urgent_writes
from storage.errors import NotFoundError


def cancel(run_id: str, user_id: str, deps: BotDeps) -> Reply:
    with deps.sessions() as session:
        try:
            cancelled = runs.cancel_run(run_id, session=session, cancelled_by=user_id)
            run = runs.get_run(run_id, session=session)
        except NotFoundError:
            return Reply(f":warning: there is no run `{run_id}`; run IDs are shown on each run's message.")
    if not cancelled:
        return Reply(f"Run `{run_id}` has already finished ({run.status}); nothing to cancel.")
    return Reply(
        f":no_entry_sign: <@{user_id}> cancelled run `{run_id}` ({run.procedure} on {run.cluster}); "
        "it stops after its current step.",
        in_channel=True,
    )


def handle(command: Cancel, request: Request, deps: BotDeps) -> Reply:
    return cancel(command.run_id, request.user_id, deps)


def register(app: App, deps: BotDeps) -> None:
    @app.action(CANCEL_ACTION)
    def cancel_button(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        with urgent_writes():
            reply = cancel(str(action.get("value", "")), str(body["user"]["id"]), deps)
        if not reply.in_channel:
            respond(text=reply.text, response_type="ephemeral", replace_original=False)
