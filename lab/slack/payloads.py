"""Build the payloads Slack sends to an app for slash commands and button clicks (pure functions).

Field names and shapes follow Slack's so Bolt parses them with its own code, unchanged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from lab.slack.config import ChannelSpec, SlackConfig, UserSpec
from lab.slack.model import JSON, Message


def trigger_id() -> str:
    return f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def slash_command(
    config: SlackConfig,
    user: UserSpec,
    channel: ChannelSpec,
    command: str,
    text: str,
    response_url: str,
) -> dict[str, str]:
    """The form fields of a slash command (Socket Mode sends the same fields as a JSON object)."""
    return {
        "token": config.verification_token,
        "team_id": config.team_id,
        "team_domain": config.team_domain,
        "channel_id": channel.id,
        "channel_name": channel.name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command if command.startswith("/") else "/" + command,
        "text": text,
        "api_app_id": config.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id(),
    }


@dataclass(frozen=True)
class Button:
    """A button found in a message's blocks."""

    action_id: str
    block_id: str
    value: str | None
    text: str


def find_button(blocks: list[JSON] | None, action_id: str) -> Button:
    """Locate the button a user clicks, in ``actions`` elements or a section's accessory."""
    for block in blocks or []:
        candidates = list(block.get("elements", []))
        if "accessory" in block:
            candidates.append(block["accessory"])
        for element in candidates:
            if element.get("type") == "button" and element.get("action_id") == action_id:
                label = element.get("text", {}).get("text", "")
                return Button(action_id, str(block.get("block_id", "")), element.get("value"), label)
    raise LookupError(action_id)


def block_actions(
    config: SlackConfig,
    user: UserSpec,
    channel: ChannelSpec,
    message: Message,
    button: Button,
    value: str | None,
    action_ts: str,
    response_url: str,
) -> JSON:
    """The ``block_actions`` payload Slack sends when ``user`` clicks ``button`` on ``message``."""
    action: JSON = {
        "action_id": button.action_id,
        "block_id": button.block_id,
        "text": {"type": "plain_text", "text": button.text, "emoji": True},
        "type": "button",
        "action_ts": action_ts,
    }
    chosen = value if value is not None else button.value
    if chosen is not None:
        action["value"] = chosen
    return {
        "type": "block_actions",
        "user": {"id": user.id, "username": user.name, "name": user.name, "team_id": config.team_id},
        "api_app_id": config.app_id,
        "token": config.verification_token,
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel.id,
            "is_ephemeral": message.ephemeral_to is not None,
        },
        "trigger_id": trigger_id(),
        "team": {"id": config.team_id, "domain": config.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
        "message": message.slack_view(),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
