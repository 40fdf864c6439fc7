"""deploy/slack-app-manifest.yaml, checked offline: its shape against Slack's manifest rules, and its bot
scopes against the Web API methods the code calls — exactly those scopes, no more.

The code is scanned (its syntax tree, not grep): every use of a slack_sdk ``WebClient`` method in bot/,
handlers/, runner/ and storage/ is mapped to the Web API methods it calls, found in slack_sdk's own source
(``chat_postMessage`` → ``chat.postMessage``; ``files_upload_v2`` → ``files.getUploadURLExternal`` and
``files.completeUploadExternal``), plus ``.api_call("…")`` and Bolt's ``say``. So a new Slack call fails
here until it is listed in ``tests/slack_manifest.BOT_METHODS`` and its scope is in the manifest.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeGuard

import pytest
from slack_sdk import WebClient

from bot.grammar import USAGE, Schedule, parse
from lab.slack.scopes import METHOD_RULES, TokenKind
from tests.slack_manifest import (
    APP_TOKEN_SCOPES,
    BOT_METHODS,
    FEATURE_SCOPES,
    FRAMEWORK_METHODS,
    load_manifest,
    manifest_bot_scopes,
)

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("bot", "handlers", "runner", "storage")

# Slack's granular bot scopes (https://docs.slack.dev/reference/scopes?token_types=Bot). A manifest asking
# for anything else is refused when the app is created.
SLACK_BOT_SCOPES = frozenset(
    {
        "app_mentions:read",
        "bookmarks:read",
        "bookmarks:write",
        "calls:read",
        "calls:write",
        "channels:history",
        "channels:join",
        "channels:manage",
        "channels:read",
        "channels:write.invites",
        "channels:write.topic",
        "chat:write",
        "chat:write.customize",
        "chat:write.public",
        "commands",
        "conversations.connect:manage",
        "conversations.connect:read",
        "conversations.connect:write",
        "datastore:read",
        "datastore:write",
        "dnd:read",
        "emoji:read",
        "files:read",
        "files:write",
        "groups:history",
        "groups:read",
        "groups:write",
        "groups:write.invites",
        "groups:write.topic",
        "im:history",
        "im:read",
        "im:write",
        "incoming-webhook",
        "links.embed:write",
        "links:read",
        "links:write",
        "metadata.message:read",
        "mpim:history",
        "mpim:read",
        "mpim:write",
        "mpim:write.invites",
        "mpim:write.topic",
        "pins:read",
        "pins:write",
        "reactions:read",
        "reactions:write",
        "reminders:read",
        "reminders:write",
        "remote_files:read",
        "remote_files:share",
        "remote_files:write",
        "team.billing:read",
        "team.preferences:read",
        "team:read",
        "tokens.basic",
        "triggers:read",
        "triggers:write",
        "usergroups:read",
        "usergroups:write",
        "users.profile:read",
        "users:read",
        "users:read.email",
        "users:write",
        "workflow.steps:execute",
    }
)
# The manifest's sections and keys (Slack's manifest schema, version 1): a misspelt key is refused.
TOP_LEVEL_KEYS = {"_metadata", "display_information", "features", "oauth_config", "settings", "functions"}
SETTINGS_KEYS = {
    "allowed_ip_address_ranges",
    "event_subscriptions",
    "incoming_webhooks",
    "interactivity",
    "org_deploy_enabled",
    "socket_mode_enabled",
    "token_rotation_enabled",
    "function_runtime",
}
SLASH_COMMAND_KEYS = {"command", "description", "should_escape", "url", "usage_hint"}


# --- the code's Slack calls ------------------------------------------------------------------------


@functools.cache
def sdk_api_methods(name: str) -> frozenset[str]:
    """The Web API methods ``WebClient.<name>`` calls, read from slack_sdk's source (following helpers
    such as ``files_upload_v2`` into the methods they call)."""
    function = getattr(WebClient, name, None)
    if name.startswith("_") or not inspect.isfunction(function):
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(function)))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "self"):
            continue
        if node.func.attr == "api_call":
            method = _literal_method(node)
            if method is not None:
                found.add(method)
        elif node.func.attr != name:
            found |= sdk_api_methods(node.func.attr)
    return frozenset(found)


def _literal_method(call: ast.Call) -> str | None:
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "api_method"), None)
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


@functools.cache
def sdk_methods() -> dict[str, frozenset[str]]:
    """Every public WebClient method that calls the Web API → the methods it calls."""
    table = {name: sdk_api_methods(name) for name, _ in inspect.getmembers(WebClient, inspect.isfunction)}
    return {name: methods for name, methods in table.items() if methods}


def _is_api_call(node: ast.AST) -> TypeGuard[ast.Call]:
    """``x.api_call(...)``, except ``super().api_call(...)``: a WebClient subclass passing every call on."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    receiver = node.func.value
    forwarding = (
        isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super"
    )
    return node.func.attr == "api_call" and not forwarding


def slack_calls_in(source: str, where: str) -> dict[str, list[str]]:
    """Web API method → where ``source`` calls it. A call whose method cannot be read fails."""
    calls: dict[str, list[str]] = {}
    table = sdk_methods()
    for node in ast.walk(ast.parse(source)):
        methods: Iterable[str] = ()
        if isinstance(node, ast.Attribute) and node.attr in table:
            methods = table[node.attr]
        elif _is_api_call(node):
            method = _literal_method(node)
            if method is None:
                raise AssertionError(f"{where}:{node.lineno}: api_call with a method the scan cannot read")
            methods = (method,)
        elif (
            isinstance(node, ast.arg)
            and node.annotation is not None
            and re.fullmatch(r"(?:[\w.]+\.)?Say", ast.unparse(node.annotation))
        ):
            methods = ("chat.postMessage",)  # Bolt's say() posts with the bot token
        for method in methods:
            calls.setdefault(method, []).append(f"{where}:{getattr(node, 'lineno', 0)}")
    return calls


def code_slack_calls() -> dict[str, list[str]]:
    calls: dict[str, list[str]] = {}
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            found = slack_calls_in(path.read_text(), str(path.relative_to(ROOT)))
            for method, places in found.items():
                calls.setdefault(method, []).extend(places)
    return calls


def missing_scopes(methods: Iterable[str], bot_scopes: Iterable[str]) -> dict[str, str]:
    """Each method the bot token could not call with ``bot_scopes`` → why."""
    granted = set(bot_scopes)
    missing: dict[str, str] = {}
    for method in sorted(methods):
        rule = METHOD_RULES.get(method)
        if rule is None:
            missing[method] = "the local Slack does not know its scope: add it to lab/slack/scopes.py"
        elif rule.token_kind is not TokenKind.BOT:
            missing[method] = f"needs a {rule.token_kind} token"
        elif rule.scope is not None and rule.scope not in granted:
            missing[method] = f"needs {rule.scope}"
    return missing


def test_the_scan_reads_slack_sdk_as_slack_sdk_calls_the_api() -> None:
    assert sdk_api_methods("chat_postMessage") == {"chat.postMessage"}
    assert sdk_api_methods("users_info") == {"users.info"}
    assert sdk_api_methods("usergroups_users_list") == {"usergroups.users.list"}
    assert sdk_api_methods("files_upload_v2") == {
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    }
    assert "api_call" not in sdk_methods() and "retry_handlers" not in sdk_methods()


def test_the_scan_finds_each_form_of_call() -> None:
    source = textwrap.dedent(
        """
        def post(self, client, say: Say):
            self.client.chat_postMessage(channel="C1", text="hi")
            client.files_upload_v2(channel="C1", content="x")
            upload = client.files_upload_v2
            client.api_call("reactions.add", params={})
            runs.get_run("r-1")
        """
    )
    found = slack_calls_in(source, "example.py")
    assert set(found) == {
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "reactions.add",
    }
    assert len(found["chat.postMessage"]) == 2 and len(found["files.completeUploadExternal"]) == 2
    with pytest.raises(AssertionError, match="cannot read"):
        slack_calls_in("client.api_call(name)", "dynamic.py")
    forwarding = """
        class Counted(WebClient):
            def api_call(self, method, **kwargs):
                return super().api_call(method, **kwargs)
    """
    assert slack_calls_in(textwrap.dedent(forwarding), "counted.py") == {}


def test_bot_methods_are_exactly_what_the_code_calls() -> None:
    calls = code_slack_calls()
    unlisted = {method: places for method, places in calls.items() if method not in BOT_METHODS}
    assert not unlisted, f"new Slack calls: list them in tests/slack_manifest.py BOT_METHODS: {unlisted}"
    assert set(calls) == BOT_METHODS, f"listed but never called: {sorted(BOT_METHODS - set(calls))}"


def test_every_call_of_the_code_has_its_scope_in_the_manifest() -> None:
    assert missing_scopes(code_slack_calls(), manifest_bot_scopes()) == {}
    assert missing_scopes(BOT_METHODS, manifest_bot_scopes()) == {}


def test_a_call_without_its_scope_is_reported() -> None:
    without = [s for s in manifest_bot_scopes() if s != "usergroups:read"]
    assert missing_scopes(code_slack_calls(), without) == {
        "usergroups.list": "needs usergroups:read",
        "usergroups.users.list": "needs usergroups:read",
    }
    new_call = slack_calls_in("client.reactions_add(channel='C1', name='eyes', timestamp='1')", "new.py")
    assert missing_scopes(new_call, manifest_bot_scopes()) == {
        "reactions.add": "the local Slack does not know its scope: add it to lab/slack/scopes.py"
    }
    assert missing_scopes(["apps.connections.open"], manifest_bot_scopes()) == {
        "apps.connections.open": "needs a app token"
    }


def test_every_scope_of_the_manifest_is_needed() -> None:
    needed = {METHOD_RULES[m].scope for m in BOT_METHODS} | set(FEATURE_SCOPES)
    unneeded = set(manifest_bot_scopes()) - needed
    assert not unneeded, f"no call of the bot needs {sorted(unneeded)}: drop them (least privilege)"


def test_the_framework_calls_need_no_bot_scope() -> None:
    """Bolt's auth.test needs none; Socket Mode's apps.connections.open is the app-level token's."""
    assert METHOD_RULES["auth.test"].scope is None
    rule = METHOD_RULES["apps.connections.open"]
    assert rule.token_kind is TokenKind.APP and rule.scope in APP_TOKEN_SCOPES
    assert FRAMEWORK_METHODS.isdisjoint(BOT_METHODS)


# --- the manifest's shape ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load_manifest()


def test_the_manifest_has_slacks_sections_and_no_unknown_keys(manifest: dict[str, Any]) -> None:
    assert set(manifest) <= TOP_LEVEL_KEYS, set(manifest) - TOP_LEVEL_KEYS
    assert manifest["_metadata"]["major_version"] in (1, 2)
    assert set(manifest["settings"]) <= SETTINGS_KEYS, set(manifest["settings"]) - SETTINGS_KEYS
    assert set(manifest["oauth_config"]) <= {"redirect_urls", "scopes", "token_management_enabled"}
    assert set(manifest["oauth_config"]["scopes"]) == {"bot"}, "the bot acts as itself: no user scopes"
    assert set(manifest["features"]) <= {
        "app_home",
        "bot_user",
        "shortcuts",
        "slash_commands",
        "unfurl_domains",
    }


def test_display_information_fits_slacks_limits(manifest: dict[str, Any]) -> None:
    info = manifest["display_information"]
    assert set(info) <= {"name", "description", "long_description", "background_color"}
    assert 1 <= len(info["name"]) <= 35
    assert len(info.get("description", "")) <= 140
    assert 175 <= len(info.get("long_description", "x" * 175)) <= 4000
    assert re.fullmatch(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})", info.get("background_color", "#000"))
    bot_user = manifest["features"]["bot_user"]
    assert set(bot_user) <= {"display_name", "always_online"}
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", bot_user["display_name"])


def test_the_etcd_command_is_declared_for_socket_mode(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert set(command) <= SLASH_COMMAND_KEYS, set(command) - SLASH_COMMAND_KEYS
    assert command["command"] == "/etcd" and re.fullmatch(r"/[a-z0-9_-]{1,31}", command["command"])
    assert 1 <= len(command["description"]) <= 2000 and len(command.get("usage_hint", "")) <= 1000
    assert "url" not in command, "Socket Mode: commands come over the bot's connection, not to a URL"
    assert command["should_escape"] is True


def test_the_usage_hint_names_every_subcommand(manifest: dict[str, Any]) -> None:
    hint = manifest["features"]["slash_commands"][0]["usage_hint"]
    words = set(re.findall(r"[a-z]+", hint))
    assert set(USAGE) <= words, f"add {sorted(set(USAGE) - words)} to the usage hint"


def test_escaped_channel_mentions_are_what_the_grammar_reads() -> None:
    """should_escape: Slack sends ``#etcd-ops`` as ``<#C…|etcd-ops>``; the grammar takes the ID."""
    assert parse("schedule health @daily <#C0ABC12|etcd-ops> all") == Schedule(
        "health", "@daily", "all", "C0ABC12"
    )


def test_interactivity_and_socket_mode_are_on(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True}, "buttons over Socket Mode: no request_url"
    assert settings["socket_mode_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert "event_subscriptions" not in settings, "the bot listens to no events"


def test_the_scopes_are_slack_bot_scopes_listed_once(manifest: dict[str, Any]) -> None:
    scopes = manifest_bot_scopes()
    assert len(scopes) == len(set(scopes))
    assert set(scopes) <= SLACK_BOT_SCOPES, set(scopes) - SLACK_BOT_SCOPES
    assert "commands" in scopes, "a slash command needs the commands scope"
    assert not set(APP_TOKEN_SCOPES) & set(scopes), "connections:write is the app-level token's"
