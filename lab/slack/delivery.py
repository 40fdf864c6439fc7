"""Signed HTTP delivery of slash commands and interactions to the app's request URL.

Bodies are form-encoded and signed exactly as Slack signs them; tests may ask for a wrong signature
or an old timestamp to check that the app refuses them.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass

import aiohttp

from lab.slack.model import JSON, Attempt, Delivery
from lab.slack.signing import signature


@dataclass(frozen=True)
class Tamper:
    """Deliberate faults for signature tests: a bogus signature and/or a skewed timestamp."""

    bad_signature: bool = False
    timestamp_skew: int = 0


def form_body(kind: str, payload: JSON) -> str:
    """Slash commands are their fields form-encoded; interactions are ``payload=<json>``."""
    if kind == "slash_commands":
        return urllib.parse.urlencode(payload)
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def parse_ack_body(body: str) -> JSON | None:
    """An immediate response: JSON is a message, plain text is the message's text, empty is nothing."""
    if not body.strip():
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"text": body}
    return parsed if isinstance(parsed, dict) else {"text": body}


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    delivery: Delivery,
    kind: str,
    payload: JSON,
    tamper: Tamper,
    response_window: float,
) -> None:
    """POST once (Slack does not retry commands over HTTP) and record status, ack body and latency.

    An app that does not answer within ``response_window`` (3 s at Slack) gets ``operation_timeout``.
    """
    body = form_body(kind, payload)
    ts = str(int(time.time()) + tamper.timestamp_skew)
    sig = signature(secret, ts, body)
    if tamper.bad_signature:
        sig = "v0=" + "0" * 64
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sig,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    delivery.attempts.append(Attempt(0, "http", time.time()))
    started = time.perf_counter()
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=response_window)
        ) as resp:
            text = await resp.text()
            delivery.http_status = resp.status
    except TimeoutError:
        delivery.error = "operation_timeout"
        return
    except aiohttp.ClientError:
        delivery.error = "connection_failed"
        return
    delivery.ack_latency_ms = round((time.perf_counter() - started) * 1000, 3)
    if delivery.http_status != 200:
        delivery.error = f"http_{delivery.http_status}"
        return
    delivery.acked = True
    delivery.acked_by = "http"
    delivery.ack_payload = parse_ack_body(text)
