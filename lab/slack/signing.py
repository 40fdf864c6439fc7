"""Slack's request signing (v0 HMAC-SHA256), kept pure so tests can sign and tamper deliberately."""

from __future__ import annotations

import hashlib
import hmac

MAX_AGE_SECONDS = 300


def signature(secret: str, timestamp: str, body: str) -> str:
    """The `X-Slack-Signature` value Slack sends for ``body`` at ``timestamp``."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: str, sig: str, now: float) -> bool:
    """Check a signature as a Slack app must: right HMAC and not older than five minutes."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), sig)
