"""The Slack app manifest as the tests read it, and the Web API methods the bot calls, with their scopes.

``BOT_METHODS`` is kept by hand on purpose: a new Slack call is a deliberate change that may need a new
scope in ``deploy/slack-app-manifest.yaml``. tests/unit/test_slack_manifest_static.py scans the code and
fails when it calls a method missing here (or one listed here is no longer called); tests/bot/
test_slack_manifest.py runs the bot against a local Slack granted exactly the manifest's scopes and fails
when Slack refuses a call for want of one. The scope each method needs is the local Slack's own table
(``lab.slack.scopes.METHOD_RULES``), the same one it enforces.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from lab.slack.model import ApiCall
from lab.slack.scopes import METHOD_RULES

MANIFEST = Path(__file__).resolve().parents[1] / "deploy" / "slack-app-manifest.yaml"

# Called by the bot's own code (bot/, handlers/), through slack_sdk's WebClient.
BOT_METHODS = frozenset(
    {
        "chat.postMessage",  # bot/relay.py: run messages, step replies in threads, approvals, health changes
        "chat.update",  # bot/relay.py: a run's or an approval's message as it progresses
        "usergroups.list",  # bot/approvers.py: find the policy's group by handle at each click
        "usergroups.users.list",  # bot/approvers.py: its members
        "users.info",  # bot/incident_export.py: people's names in the exported timeline
        "conversations.info",  # bot/incident_export.py: channel names in it
        "files.getUploadURLExternal",  # bot/incident_export.py: files_upload_v2, first half
        "files.completeUploadExternal",  # bot/incident_export.py: files_upload_v2, second half
    }
)
# Called by slack_bolt / slack_sdk themselves: Bolt checks its token with auth.test (no scope), and Socket
# Mode opens its connection with the app-level token (connections:write, granted to that token, not in
# the manifest's bot scopes).
FRAMEWORK_METHODS = frozenset({"auth.test", "apps.connections.open"})
# Bot scopes that no Web API method needs but a feature does.
FEATURE_SCOPES = {"commands": "the /etcd slash command"}
APP_TOKEN_SCOPES = ("connections:write",)

# What Slack answers when a token may not call a method.
SCOPE_ERRORS = frozenset({"missing_scope", "not_allowed_token_type"})


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping at top level")
    return loaded


def manifest_bot_scopes(path: Path = MANIFEST) -> tuple[str, ...]:
    """The bot scopes the app asks for at install, in the manifest's order."""
    scopes = load_manifest(path)["oauth_config"]["scopes"]["bot"]
    return tuple(str(scope) for scope in scopes)


def scope_of(method: str) -> str | None:
    return METHOD_RULES[method].scope


def scope_failures(calls: Iterable[ApiCall]) -> dict[str, str]:
    """Each method Slack refused for want of a scope or for the token's kind → why (first refusal)."""
    failures: dict[str, str] = {}
    for call in calls:
        if call.error in SCOPE_ERRORS and call.method not in failures:
            needed = f": needs {call.scope}" if call.scope else ""
            failures[call.method] = f"{call.error}{needed} ({call.token_kind} token)"
    return failures
