"""The lab's control API (``/_lab/...``): act as people, read the transcript, inspect deliveries.

This is not part of Slack; it is what the Python driver and the demo use to play the humans.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from lab.slack import transcript
from lab.slack.delivery import Tamper
from lab.slack.dispatch import Dispatcher, Options
from lab.slack.model import JSON
from lab.slack.socketmode import SocketHub
from lab.slack.workspace import SlackError, Workspace

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _options(body: dict[str, Any]) -> Options:
    tamper = Tamper(bool(body.get("bad_signature")), int(body.get("timestamp_skew", 0)))
    return Options(tamper=tamper, settle=float(body.get("settle", 0.2)))


def _guard(fn: Callable[[web.Request], Awaitable[JSON]]) -> Handler:
    """Answer Slack-style errors (unknown user, channel...) as a 400 with the error word."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return web.json_response({"ok": True, **await fn(request)})
        except SlackError as exc:
            return web.json_response({"ok": False, "error": exc.code}, status=400)
        except (KeyError, ValueError, TypeError):
            return web.json_response({"ok": False, "error": "invalid_arguments"}, status=400)

    return wrapped


class ControlApi:
    """Routes for the driver; every read is a snapshot of the server's state."""

    def __init__(
        self, workspace: Workspace, dispatcher: Dispatcher, hub: SocketHub, info: Callable[[], JSON]
    ):
        self.ws = workspace
        self.dispatcher = dispatcher
        self.hub = hub
        self.info = info

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_lab/info", _guard(self.get_info)),
            web.post("/_lab/slash", _guard(self.slash)),
            web.post("/_lab/click", _guard(self.click)),
            web.get("/_lab/transcript", _guard(self.transcript)),
            web.get("/_lab/thread", _guard(self.thread)),
            web.get("/_lab/files", _guard(self.files)),
            web.get("/_lab/api_calls", _guard(self.api_calls)),
            web.get("/_lab/deliveries", _guard(self.deliveries)),
            web.get("/_lab/connections", _guard(self.connections)),
            web.post("/_lab/settings", _guard(self.settings)),
        ]

    def _viewer(self, request: web.Request) -> str | None:
        who = request.query.get("as_user")
        if not who:
            return None
        return who if who == transcript.EVERYONE else self.ws.user(who).id

    async def get_info(self, request: web.Request) -> JSON:
        return self.info()

    async def slash(self, request: web.Request) -> JSON:
        body = await request.json()
        return await self.dispatcher.slash(
            str(body["user"]),
            str(body["channel"]),
            str(body["command"]),
            str(body.get("text", "")),
            _options(body),
        )

    async def click(self, request: web.Request) -> JSON:
        body = await request.json()
        return await self.dispatcher.click(
            str(body["user"]),
            str(body["message_ts"]),
            str(body["action_id"]),
            body.get("value"),
            body.get("channel"),
            _options(body),
            stale=bool(body.get("stale", False)),
        )

    async def transcript(self, request: web.Request) -> JSON:
        channel = self.ws.channel(request.query["channel"]).id
        messages = transcript.channel_view(self.ws.messages, channel, self._viewer(request))
        return {"messages": [m.to_json() for m in messages]}

    async def thread(self, request: web.Request) -> JSON:
        channel = self.ws.channel(request.query["channel"]).id
        messages = transcript.thread_view(
            self.ws.messages, channel, request.query["ts"], self._viewer(request)
        )
        return {"messages": [m.to_json() for m in messages]}

    async def files(self, request: web.Request) -> JSON:
        ref = request.query.get("channel")
        channel = self.ws.channel(ref).id if ref else None
        # Like Slack, a file shows once its upload is completed (files.completeUploadExternal), not while
        # its bytes are still on their way.
        records = [
            f for f in self.ws.files.values() if f.completed and (channel is None or f.channel == channel)
        ]
        return {"files": [f.to_json() for f in records]}

    async def api_calls(self, request: web.Request) -> JSON:
        return {"calls": [c.to_json() for c in self.ws.api_calls]}

    async def deliveries(self, request: web.Request) -> JSON:
        return {"deliveries": [d.to_json() for d in self.ws.deliveries.values()]}

    async def connections(self, request: web.Request) -> JSON:
        return {"connections": sorted(cid for cid, ws in self.hub.connections.items() if not ws.closed)}

    async def settings(self, request: web.Request) -> JSON:
        body = await request.json()
        if "request_url" in body:
            self.ws.request_url = body["request_url"] or None
        return {"request_url": self.ws.request_url}
