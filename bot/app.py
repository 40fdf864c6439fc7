"""The Bolt app, built by a factory (no module-level App), with every listener registered from handlers/."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

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
    client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
    # Slack answers a burst of edits with 429 and Retry-After: wait and retry instead of dropping them.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
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
