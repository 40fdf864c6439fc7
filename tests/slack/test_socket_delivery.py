"""Socket Mode delivery rules with slack_sdk's own Socket Mode client: one connection per envelope,
retries of unacknowledged envelopes, and server-measured ack latency.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from lab.slack import LocalSlackThread, SlackConfig, SlackDriver

CHANNEL = "#etcd-lab"


@dataclass
class Seen:
    """Envelopes each client received: (client name, envelope id, retry_attempt, text)."""

    items: list[tuple[str, str, int, str]] = field(default_factory=list)
    reasons: dict[tuple[str, int], str | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_client(name: str, slack_url: str, config: SlackConfig, seen: Seen) -> SocketModeClient:
    """A client that acks everything except ``flaky`` (first attempt only) and ``never`` commands."""
    client = SocketModeClient(
        app_token=config.app_token, web_client=WebClient(token=config.bot_token, base_url=slack_url + "/api/")
    )

    def listener(sm: BaseSocketModeClient, req: SocketModeRequest) -> None:
        text = str(req.payload.get("text", ""))
        with seen.lock:
            seen.items.append((name, req.envelope_id, req.retry_attempt or 0, text))
            seen.reasons[(req.envelope_id, req.retry_attempt or 0)] = req.retry_reason
        if text == "never" or (text == "flaky" and not req.retry_attempt):
            return
        sm.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    client.socket_mode_request_listeners.append(listener)
    return client


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[SlackDriver, Seen]]:
    config = SlackConfig(ack_timeout=0.3)
    seen = Seen()
    with LocalSlackThread(config) as slack:
        clients = [make_client(n, slack.url, config, seen) for n in ("one", "two")]
        try:
            for client in clients:
                client.connect()
            yield SlackDriver(slack.url), seen
        finally:
            # slack_sdk's close() takes ≈3 s; close both at once.
            closers = [threading.Thread(target=c.close) for c in clients]
            for t in closers:
                t.start()
            for t in closers:
                t.join(timeout=10)


def test_each_envelope_goes_to_exactly_one_connection(env: tuple[SlackDriver, Seen]) -> None:
    driver, seen = env
    assert len(driver.connections()) == 2
    results = [driver.slash("alice", CHANNEL, "/etcd", f"n{i}", settle=0) for i in range(6)]
    assert all(r.acked and r.attempts == 1 for r in results)
    ids = [r.envelope_id for r in results]
    with seen.lock:
        got = [(who, env_id) for who, env_id, _, _ in seen.items if env_id in ids]
    assert sorted(env_id for _, env_id in got) == sorted(ids)
    assert {who for who, _ in got} == {"one", "two"}
    assert {r.acked_by for r in results} == set(driver.connections())


def test_unacked_envelope_is_retried(env: tuple[SlackDriver, Seen]) -> None:
    driver, seen = env
    result = driver.slash("alice", CHANNEL, "/etcd", "flaky", settle=0)
    assert result.acked and result.attempts == 2
    assert result.ack_latency_ms is not None and result.ack_latency_ms < 300
    with seen.lock:
        tries = [(attempt, who) for who, env_id, attempt, _ in seen.items if env_id == result.envelope_id]
    assert [a for a, _ in tries] == [0, 1]
    record = next(d for d in driver.deliveries() if d["id"] == result.envelope_id)
    assert [a["retry_attempt"] for a in record["attempts"]] == [0, 1]


def test_never_acked_gives_up_after_three_retries(env: tuple[SlackDriver, Seen]) -> None:
    driver, seen = env
    result = driver.slash("alice", CHANNEL, "/etcd", "never", settle=0)
    assert not result.acked and result.error == "timeout"
    assert result.attempts == 4
    with seen.lock:
        attempts = [a for _, env_id, a, _ in seen.items if env_id == result.envelope_id]
    assert attempts == [0, 1, 2, 3]


def test_retry_reason_is_timeout(env: tuple[SlackDriver, Seen]) -> None:
    driver, seen = env
    result = driver.slash("alice", CHANNEL, "/etcd", "flaky", settle=0)
    assert result.attempts == 2
    with seen.lock:
        assert seen.reasons[(result.envelope_id, 0)] in ("", None)
        assert seen.reasons[(result.envelope_id, 1)] == "timeout"
