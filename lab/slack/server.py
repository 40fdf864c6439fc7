"""Assemble the local Slack: one aiohttp app serving the Web API, Socket Mode, response URLs,
file uploads and the lab's control API on a single host:port.
"""

from __future__ import annotations

import functools

import aiohttp
from aiohttp import web

from lab.slack import responses, webapi
from lab.slack.config import SlackConfig
from lab.slack.control import ControlApi
from lab.slack.dispatch import Dispatcher
from lab.slack.model import JSON
from lab.slack.socketmode import SocketHub
from lab.slack.workspace import Workspace


class LocalSlack:
    """A running (or ready to run) local Slack; ``await start()`` binds, ``await stop()`` releases all."""

    def __init__(self, config: SlackConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SlackConfig()
        self.host = host
        self.port = port
        self.workspace = Workspace(self.config)
        self.hub = SocketHub(
            lambda: self.ws_url, self.config.app_id, self.config.ack_timeout, self.config.max_retries
        )
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.api = webapi.WebApi(self.workspace, lambda: self.url, self.hub.issue_ticket)
        self.dispatcher = Dispatcher(self.workspace, self.hub, self.session, lambda: f"{self.url}/response")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def session(self) -> aiohttp.ClientSession:
        """The client session for HTTP delivery, created inside the running loop on first use."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def info(self) -> JSON:
        """What a bot needs to connect (printed by the CLI, served at ``/_lab/info``)."""
        cfg = self.config
        return {
            "url": self.url,
            "api_url": f"{self.url}/api/",
            "team_id": cfg.team_id,
            "app_id": cfg.app_id,
            "bot_user_id": cfg.bot_user.id,
            "bot_token": cfg.bot_token,
            "app_token": cfg.app_token,
            "signing_secret": cfg.signing_secret,
            "request_url": self.workspace.request_url,
            "channels": {c.name: c.id for c in cfg.channels},
            "users": {u.name: u.id for u in cfg.users},
            "groups": {g.handle: g.id for g in cfg.groups},
        }

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        control = ControlApi(self.workspace, self.dispatcher, self.hub, self.info)
        app.add_routes(
            [
                web.post("/api/{method}", self.api.handle),
                web.get("/api/{method}", self.api.handle),
                web.get("/socket-mode/{ticket}", self.hub.handle),
                web.post("/response/{token}", functools.partial(responses.handle, self.workspace)),
                web.post("/upload/{file_id}", functools.partial(webapi.upload, self.workspace)),
                web.put("/upload/{file_id}", functools.partial(webapi.upload, self.workspace)),
                *control.routes(),
            ]
        )
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None


async def start_local_slack(
    config: SlackConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> LocalSlack:
    """Start a local Slack in the running loop (port 0 picks a free one); the caller must ``stop()`` it."""
    slack = LocalSlack(config, host, port)
    await slack.start()
    return slack
