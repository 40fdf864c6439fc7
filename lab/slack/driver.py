"""A synchronous driver for tests and the demo: play the humans and read what Slack shows them.

It talks to the local Slack's control API over HTTP only, so it works the same against an in-process
server or one started with ``python -m lab.slack``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.slack.model import JSON, ApiCall, FileRecord, Message
from lab.slack.render import render


class LabSlackError(Exception):
    """The local Slack refused a driver request (unknown user, channel, message, button...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class CommandResult:
    """What happened to one slash command or click, as measured by the local Slack."""

    envelope_id: str
    mode: str
    acked: bool
    ack_latency_ms: float | None
    attempts: int
    acked_by: str | None
    http_status: int | None
    error: str | None
    ack_payload: JSON | None
    response_url: str
    replies: list[Message] = field(default_factory=list)

    @property
    def ephemeral(self) -> list[Message]:
        return [m for m in self.replies if m.ephemeral_to is not None]

    @property
    def in_channel(self) -> list[Message]:
        return [m for m in self.replies if m.ephemeral_to is None]

    @classmethod
    def from_json(cls, data: JSON) -> CommandResult:
        return cls(
            envelope_id=data["id"],
            mode=data["mode"],
            acked=data["acked"],
            ack_latency_ms=data["ack_latency_ms"],
            attempts=len(data["attempts"]),
            acked_by=data["acked_by"],
            http_status=data["http_status"],
            error=data["error"],
            ack_payload=data["ack_payload"],
            response_url=data["response_url"],
            replies=[Message.from_json(m) for m in data["replies"]],
        )


class SlackDriver:
    """Act as workspace members against a local Slack at ``base_url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # --- transport -----------------------------------------------------------------------------

    def _call(self, path: str, body: JSON | None = None, **query: str | None) -> JSON:
        params = {k: v for k, v in query.items() if v is not None}
        url = f"{self.base_url}/_lab/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                answer: JSON = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            with exc:
                detail = json.loads(exc.read() or b"{}")
            raise LabSlackError(str(detail.get("error", exc.code))) from None
        return answer

    # --- acting as people ----------------------------------------------------------------------

    def slash(
        self,
        user: str,
        channel: str,
        command: str,
        text: str = "",
        *,
        settle: float = 0.2,
        bad_signature: bool = False,
        timestamp_skew: int = 0,
    ) -> CommandResult:
        """Type ``command text`` as ``user`` in ``channel``; replies seen within ``settle`` s are returned."""
        body = {
            "user": user,
            "channel": channel,
            "command": command,
            "text": text,
            "settle": settle,
            "bad_signature": bad_signature,
            "timestamp_skew": timestamp_skew,
        }
        return CommandResult.from_json(self._call("slash", body))

    def click(
        self,
        user: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        *,
        channel: str | None = None,
        settle: float = 0.2,
        bad_signature: bool = False,
        timestamp_skew: int = 0,
        stale: bool = False,
    ) -> CommandResult:
        """Click the button ``action_id`` on the message ``message_ts`` as ``user``; ``stale``: as a client
        still showing an earlier version of the message, whose button a later edit removed."""
        body: JSON = {
            "user": user,
            "message_ts": message_ts,
            "action_id": action_id,
            "value": value,
            "channel": channel,
            "settle": settle,
            "bad_signature": bad_signature,
            "timestamp_skew": timestamp_skew,
            "stale": stale,
        }
        return CommandResult.from_json(self._call("click", body))

    def set_request_url(self, url: str | None) -> None:
        """Switch delivery to signed HTTP at ``url`` (None: back to Socket Mode)."""
        self._call("settings", {"request_url": url})

    # --- reading -------------------------------------------------------------------------------

    def info(self) -> JSON:
        return self._call("info")

    def transcript(self, channel: str, *, as_user: str | None = None) -> list[Message]:
        """The channel (threads included) as ``as_user`` sees it; ``"*"`` shows every ephemeral."""
        data = self._call("transcript", channel=channel, as_user=as_user)
        return [Message.from_json(m) for m in data["messages"]]

    def render(self, channel: str, *, as_user: str | None = "*") -> str:
        """The channel as readable text (every ephemeral shown by default), for the demo."""
        info = self.info()
        names = {uid: name for name, uid in info["users"].items()}
        names[info["bot_user_id"]] = "bot"
        return render(self.transcript(channel, as_user=as_user), names)

    def thread(self, channel: str, ts: str, *, as_user: str | None = None) -> list[Message]:
        data = self._call("thread", channel=channel, ts=ts, as_user=as_user)
        return [Message.from_json(m) for m in data["messages"]]

    def files(self, channel: str | None = None) -> list[FileRecord]:
        return [FileRecord.from_json(f) for f in self._call("files", channel=channel)["files"]]

    def api_calls(self) -> list[ApiCall]:
        return [ApiCall(**c) for c in self._call("api_calls")["calls"]]

    def deliveries(self) -> list[JSON]:
        deliveries: list[JSON] = self._call("deliveries")["deliveries"]
        return deliveries

    def connections(self) -> list[str]:
        connections: list[str] = self._call("connections")["connections"]
        return connections

    def wait_for(
        self,
        channel: str,
        predicate: Callable[[list[Message]], Any],
        timeout: float = 5.0,
        *,
        as_user: str | None = None,
        interval: float = 0.05,
    ) -> Any:
        """Poll the transcript until ``predicate`` returns something truthy; return that value."""
        deadline = time.monotonic() + timeout
        while True:
            found = predicate(self.transcript(channel, as_user=as_user))
            if found:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met in {channel} within {timeout}s")
            time.sleep(interval)
