"""What happens when a person types a slash command or clicks a button.

Builds Slack's payload, registers its response_url, delivers it over Socket Mode or signed HTTP, and
turns an ack that carries a message into the message Slack would show.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from lab.slack import delivery as http_delivery
from lab.slack import payloads, transcript
from lab.slack.model import JSON, Delivery
from lab.slack.socketmode import SocketHub
from lab.slack.workspace import SlackError, Workspace


@dataclass(frozen=True)
class Options:
    """Per-call knobs: faults for signature tests and how long to gather follow-up messages."""

    tamper: http_delivery.Tamper = field(default_factory=http_delivery.Tamper)
    settle: float = 0.2


class Dispatcher:
    """Delivers user actions to the app by whichever mode the workspace is configured for."""

    def __init__(
        self,
        workspace: Workspace,
        hub: SocketHub,
        session: Callable[[], aiohttp.ClientSession],
        response_base: Callable[[], str],
    ) -> None:
        self.ws = workspace
        self.hub = hub
        self.session = session
        self.response_base = response_base

    async def slash(self, user_ref: str, channel_ref: str, command: str, text: str, opts: Options) -> JSON:
        user = self.ws.user(user_ref)
        channel = self.ws.channel(channel_ref)
        token = self.ws.new_response_url(channel.id, user.id, None)
        payload = payloads.slash_command(
            self.ws.config, user, channel, command, text, f"{self.response_base()}/{token}"
        )
        start_seq = self.ws.seq
        record = await self._deliver(
            "slash_commands", payload, user.id, channel.id, opts, accepts_response=True
        )
        if (
            record.acked
            and record.ack_payload
            and ("text" in record.ack_payload or "blocks" in record.ack_payload)
        ):
            self.ws.apply_response(self.ws.response_targets[token], record.ack_payload, via="ack")
        return await self._result(record, start_seq, user.id, opts, response_url=payload["response_url"])

    async def click(
        self,
        user_ref: str,
        message_ts: str,
        action_id: str,
        value: str | None,
        channel_ref: str | None,
        opts: Options,
        *,
        stale: bool = False,
    ) -> JSON:
        """``stale``: the user's client has not refreshed the message since the bot edited it, so a button
        the edit removed can still be clicked (Slack delivers such a click; the app must refuse it)."""
        user = self.ws.user(user_ref)
        if channel_ref is None:
            message = self.ws.message_anywhere(message_ts)
        else:
            message = self.ws.message(self.ws.channel(channel_ref).id, message_ts)
        if not transcript.visible(message, user.id):
            raise SlackError("message_not_visible")
        versions = [message.blocks, *(edit.blocks for edit in reversed(message.edits) if stale)]
        button = next((found for blocks in versions if (found := _button(blocks, action_id))), None)
        if button is None:
            raise SlackError("action_not_found")
        channel = self.ws.channel(message.channel)
        token = self.ws.new_response_url(channel.id, user.id, message.ts)
        payload = payloads.block_actions(
            self.ws.config,
            user,
            channel,
            message,
            button,
            value,
            self.ws.clock.next(),
            f"{self.response_base()}/{token}",
        )
        start_seq = self.ws.seq
        record = await self._deliver(
            "interactive", payload, user.id, channel.id, opts, accepts_response=False
        )
        return await self._result(record, start_seq, user.id, opts, response_url=str(payload["response_url"]))

    async def _deliver(
        self, kind: str, payload: JSON, user: str, channel: str, opts: Options, *, accepts_response: bool
    ) -> Delivery:
        url = self.ws.request_url
        record = Delivery(
            id=str(uuid.uuid4()), kind=kind, mode="http" if url else "socket", user=user, channel=channel
        )
        self.ws.deliveries[record.id] = record
        if kind == "slash_commands" and "commands" not in self.ws.config.bot_scopes:
            record.error = "missing_scope"
            return record
        if url:
            await http_delivery.deliver(
                self.session(),
                url,
                self.ws.config.signing_secret,
                record,
                kind,
                payload,
                opts.tamper,
                self.ws.config.ack_timeout,
            )
        else:
            await self.hub.deliver(record, kind, payload, accepts_response)
        return record

    async def _result(
        self, record: Delivery, start_seq: int, user: str, opts: Options, response_url: str
    ) -> JSON:
        if record.acked and opts.settle > 0:
            await asyncio.sleep(opts.settle)
        replies = transcript.since(self.ws.messages, start_seq, user)
        return {
            **record.to_json(),
            "response_url": response_url,
            "replies": [m.to_json() for m in replies],
        }


def _button(blocks: list[JSON] | None, action_id: str) -> payloads.Button | None:
    try:
        return payloads.find_button(blocks, action_id)
    except LookupError:
        return None
