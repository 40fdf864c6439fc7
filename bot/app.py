"""The Bolt app, built by a factory (no module-level App), with every listener registered from handlers/."""

from __future__ import annotations

from slack_bolt import App

from bot.slack_client import slack_client
from handlers import approvals, cancel, etcd_command
from handlers.deps import BotDeps


class MissingSetting(ValueError):
    """A setting the chosen mode needs is not set; the message names it and where to set it."""


def build_app(deps: BotDeps, *, http: bool = False) -> App:
    settings = deps.settings
    if settings.slack_bot_token is None:
        raise MissingSetting("SLACK_BOT_TOKEN is not set (see .env.example)")
    if http and settings.slack_signing_secret is None:
        raise MissingSetting(
            "HTTP mode needs SLACK_SIGNING_SECRET to check Slack's signatures (see .env.example)"
        )
    # Counted in /metrics; Slack's 429 answers to a burst of edits are waited out instead of dropped.
    client = slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = App(
        client=client,
        signing_secret=secret,
        request_verification_enabled=http,
        process_before_response=True,
    )
    etcd_command.register(app, deps)
    cancel.register(app, deps)
    approvals.register(app, deps)
    return app
