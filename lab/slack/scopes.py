"""Which OAuth scope and token kind each Web API method needs, and the check Slack performs.

Kept as data so a test can compare the app manifest's scopes with the calls the bot really made.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TokenKind(StrEnum):
    """The kinds of token Slack distinguishes by prefix."""

    BOT = "bot"
    APP = "app"
    NONE = "none"
    INVALID = "invalid"


@dataclass(frozen=True)
class MethodRule:
    """What a Web API method demands of the caller's token."""

    scope: str | None
    token_kind: TokenKind


METHOD_RULES: dict[str, MethodRule] = {
    "auth.test": MethodRule(None, TokenKind.BOT),
    "chat.postMessage": MethodRule("chat:write", TokenKind.BOT),
    "chat.update": MethodRule("chat:write", TokenKind.BOT),
    "chat.postEphemeral": MethodRule("chat:write", TokenKind.BOT),
    "chat.delete": MethodRule("chat:write", TokenKind.BOT),
    "users.info": MethodRule("users:read", TokenKind.BOT),
    "usergroups.list": MethodRule("usergroups:read", TokenKind.BOT),
    "usergroups.users.list": MethodRule("usergroups:read", TokenKind.BOT),
    "conversations.info": MethodRule("channels:read", TokenKind.BOT),
    "files.getUploadURLExternal": MethodRule("files:write", TokenKind.BOT),
    "files.completeUploadExternal": MethodRule("files:write", TokenKind.BOT),
    "apps.connections.open": MethodRule("connections:write", TokenKind.APP),
}

DEFAULT_BOT_SCOPES: tuple[str, ...] = (
    "chat:write",
    "commands",
    "users:read",
    "usergroups:read",
    "channels:read",
    "files:write",
)
DEFAULT_APP_SCOPES: tuple[str, ...] = ("connections:write",)


@dataclass(frozen=True)
class ScopeVerdict:
    """Outcome of checking one call: ``error`` is None when Slack would let it through."""

    error: str | None
    needed: str | None = None
    provided: tuple[str, ...] = ()


def check(method: str, kind: TokenKind, granted: tuple[str, ...]) -> ScopeVerdict:
    """Decide as Slack does: authentication first, then token type, then scope."""
    rule = METHOD_RULES.get(method)
    if rule is None:
        return ScopeVerdict("unknown_method")
    if kind is TokenKind.NONE:
        return ScopeVerdict("not_authed")
    if kind is TokenKind.INVALID:
        return ScopeVerdict("invalid_auth")
    if kind is not rule.token_kind:
        return ScopeVerdict("not_allowed_token_type")
    if rule.scope is not None and rule.scope not in granted:
        return ScopeVerdict("missing_scope", rule.scope, granted)
    return ScopeVerdict(None, rule.scope, granted)
