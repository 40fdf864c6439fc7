"""Pure pieces: signing, ts generation, scope checks, transcript visibility, button lookup, config."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.slack import Message, SlackConfig
from lab.slack.clock import TsClock, format_ts
from lab.slack.config import load_config
from lab.slack.model import Edit
from lab.slack.payloads import find_button
from lab.slack.render import render
from lab.slack.scopes import TokenKind, check
from lab.slack.signing import signature, verify
from lab.slack.transcript import EVERYONE, channel_view, since, thread_view
from tests.slack.conftest import APPROVE_BLOCKS


def test_signature_matches_slacks_documented_example() -> None:
    # The worked example from Slack's "Verifying requests from Slack" documentation.
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert (
        signature(secret, "1531420618", body)
        == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


def test_verify_rejects_bad_or_stale() -> None:
    sig = signature("s", "1000", "a=b")
    assert verify("s", "1000", "a=b", sig, now=1000)
    assert not verify("s", "1000", "a=c", sig, now=1000)
    assert not verify("s", "1000", "a=b", sig, now=1000 + 301)
    assert not verify("s", "x", "a=b", sig, now=1000)


def test_ts_unique_and_increasing_even_when_time_stands_still() -> None:
    clock = TsClock(lambda: 1700000000.0001)
    values = [clock.next() for _ in range(3)]
    assert values == ["1700000000.000100", "1700000000.000101", "1700000000.000102"]
    assert format_ts(1_700_000_000_000_001) == "1700000000.000001"


@pytest.mark.parametrize(
    ("method", "kind", "granted", "error"),
    [
        ("chat.postMessage", TokenKind.BOT, ("chat:write",), None),
        ("chat.postMessage", TokenKind.BOT, (), "missing_scope"),
        ("chat.postMessage", TokenKind.APP, ("chat:write",), "not_allowed_token_type"),
        ("chat.postMessage", TokenKind.NONE, (), "not_authed"),
        ("chat.postMessage", TokenKind.INVALID, (), "invalid_auth"),
        ("apps.connections.open", TokenKind.APP, ("connections:write",), None),
        ("auth.test", TokenKind.BOT, (), None),
        ("no.such", TokenKind.BOT, (), "unknown_method"),
    ],
)
def test_scope_check(method: str, kind: TokenKind, granted: tuple[str, ...], error: str | None) -> None:
    assert check(method, kind, granted).error == error


def _msg(seq: int, ts: str, *, to: str | None = None, thread: str | None = None, ch: str = "C1") -> Message:
    return Message(seq=seq, channel=ch, ts=ts, user="U0BOT", text=ts, thread_ts=thread, ephemeral_to=to)


def test_transcript_visibility() -> None:
    messages = [
        _msg(1, "1.1"),
        _msg(2, "1.2", to="U0A"),
        _msg(3, "1.3", thread="1.1"),
        _msg(4, "1.4", ch="C2"),
    ]
    assert [m.ts for m in channel_view(messages, "C1", None)] == ["1.1", "1.3"]
    assert [m.ts for m in channel_view(messages, "C1", "U0A")] == ["1.1", "1.2", "1.3"]
    assert [m.ts for m in channel_view(messages, "C1", "U0B")] == ["1.1", "1.3"]
    assert [m.ts for m in channel_view(messages, "C1", EVERYONE)] == ["1.1", "1.2", "1.3"]
    assert [m.ts for m in thread_view(messages, "C1", "1.1", None)] == ["1.1", "1.3"]
    assert [m.ts for m in since(messages, 2, None)] == ["1.3", "1.4"]


def test_find_button() -> None:
    button = find_button(APPROVE_BLOCKS, "reject")
    assert (button.block_id, button.value, button.text) == ("decide", "run-1", "Reject")
    accessory = [{"type": "section", "block_id": "b", "accessory": {"type": "button", "action_id": "go"}}]
    assert find_button(accessory, "go").block_id == "b"
    with pytest.raises(LookupError):
        find_button(APPROVE_BLOCKS, "missing")


def test_config_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "slack.yaml"
    path.write_text(
        "users:\n  - {id: U1, name: dave, real_name: Dave}\n"
        "groups:\n  - {id: S1, handle: etcd-approvers, members: [U1]}\n"
        "channels:\n  - {id: C1, name: ops}\n"
        "bot_scopes: [chat:write]\n"
    )
    config = load_config(path, request_url="http://127.0.0.1:1/x")
    assert [u.name for u in config.users] == ["dave"]
    assert config.groups[0].members == ("U1",)
    assert config.channels[0].name == "ops" and config.bot_scopes == ("chat:write",)
    assert config.request_url == "http://127.0.0.1:1/x"
    assert load_config(None) == SlackConfig()


def test_render_marks_threads_ephemerals_edits_and_buttons() -> None:
    parent = _msg(1, "1700000000.000100")
    parent.blocks = APPROVE_BLOCKS
    parent.text = "Backup requested"
    parent.edits = [Edit(at=1.0, text="old", blocks=None)]
    reply = _msg(2, "1700000001.000100", thread="1700000000.000100")
    private = _msg(3, "1700000002.000100", to="U0A")
    text = render([parent, reply, private], {"U0BOT": "bot", "U0A": "alice"})
    lines = text.splitlines()
    assert lines[0] == "22:13:20 bot: Backup requested  (edited ×1)"
    assert "[Approve]" in text and "[Reject]" in text
    assert any(line.startswith("    ↳ 22:13:21 bot:") for line in lines)
    assert lines[-1].endswith("(only @alice)")
