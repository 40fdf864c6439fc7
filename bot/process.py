"""One etcdops process: the Bolt app (Socket Mode or HTTP), the runner's workers and the Slack relay.

This is the embedded shape of the design — one process, runner threads in it — used by ``etcdops
serve``, ``etcdops demo`` and the tests alike. Stopping it stops taking commands first, then lets the
runner finish its current steps; a kill at any moment is survived through the journal instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import MissingSetting, build_app
from bot.http_server import BoltHttpServer
from bot.relay import SlackRelay
from bot.settings import Settings
from bot.wiring import Wiring, wire
from handlers.deps import BotDeps
from runner.scheduler import Clock, utc_now
from runner.service import RunnerService
from runner.steps import Procedure

log = logging.getLogger(__name__)


class EtcdopsProcess:
    """``with EtcdopsProcess(settings) as bot:`` — connected to Slack and executing runs inside."""

    def __init__(
        self,
        settings: Settings,
        *,
        http_port: int | None = None,
        http_host: str = "127.0.0.1",
        extra_procedures: Mapping[str, Procedure] | None = None,
        clock: Clock = utc_now,
    ):
        self.clock = clock
        self.settings = settings
        self.extra_procedures = extra_procedures
        self.http_port = http_port
        self.http_host = http_host
        self.wiring: Wiring | None = None
        self.runner: RunnerService | None = None
        self.relay: SlackRelay | None = None
        self.socket: SocketModeHandler | None = None
        self.http: BoltHttpServer | None = None

    @property
    def url(self) -> str | None:
        """The HTTP events URL (HTTP mode only)."""
        return self.http.url if self.http else None

    def start(self) -> EtcdopsProcess:
        http = self.http_port is not None
        if not http and self.settings.slack_app_token is None:
            raise MissingSetting("Socket Mode needs SLACK_APP_TOKEN (or serve HTTP with --http)")
        self.wiring = wiring = wire(self.settings, extra_procedures=self.extra_procedures, clock=self.clock)
        try:
            deps = BotDeps(self.settings, wiring.clusters, wiring.sessions, wiring.schedules)
            app = build_app(deps, http=http)
            self.runner = wiring.runner().start()
            self.relay = SlackRelay(wiring.sessions, app.client, wiring.clusters).start()
            wiring.schedules.start()
            if http:
                assert self.http_port is not None
                self.http = BoltHttpServer(app, self.http_host, self.http_port).__enter__()
            else:
                assert self.settings.slack_app_token is not None
                self.socket = SocketModeHandler(app, self.settings.slack_app_token.get_secret_value())
                self.socket.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.socket is not None:
            self.socket.close()  # type: ignore[no-untyped-call]
            self.socket = None
        if self.http is not None:
            self.http.__exit__(None, None, None)
            self.http = None
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        if self.relay is not None:
            self.relay.stop()
            try:
                self.relay.pump()  # what the runner did last is shown before leaving
            except Exception:
                log.warning("could not show the last changes in Slack; they will be at the next start")
            self.relay = None
        if self.wiring is not None:
            self.wiring.close()
            self.wiring = None

    def __enter__(self) -> EtcdopsProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
