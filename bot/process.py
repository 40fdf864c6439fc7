"""One etcdops process: the Bolt app (Socket Mode or HTTP), the runner's workers and the Slack relay.

This is the embedded shape of the design — one process, runner threads in it — used by ``etcdops
serve``, ``etcdops demo`` and the tests alike. Stopping it stops taking commands first, then lets the
runner finish its current steps; a kill at any moment is survived through the journal instead.

With an ops port, the process also answers probes and Prometheus (``bot.ops_server``) from the first
moment of its start: ``/healthz`` at once, ``/readyz`` once the database answers and Slack is connected
(Socket Mode connected, or the HTTP server serving), ``/metrics`` throughout.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType

from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import text

from bot.app import MissingSetting, build_app
from bot.http_server import BoltHttpServer
from bot.ops_server import OpsServer, TimedCheck
from bot.relay import SlackRelay
from bot.settings import Settings
from bot.wiring import Wiring, wire
from handlers.deps import BotDeps
from runner.scheduler import Clock, utc_now
from runner.service import RunnerService
from runner.steps import Procedure
from storage.metrics import BackupCatalogCollector

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
        ops_port: int | None = None,
        ops_host: str = "127.0.0.1",
    ):
        """``ops_port``: serve /healthz, /readyz and /metrics there (0: any free port); None: not at all."""
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
        self.ops_port = ops_port
        self.ops_host = ops_host
        self.ops: OpsServer | None = None
        self._database_check = TimedCheck(self._query_database)

    @property
    def url(self) -> str | None:
        """The HTTP events URL (HTTP mode only)."""
        return self.http.url if self.http else None

    @property
    def ops_url(self) -> str | None:
        """Where /healthz, /readyz and /metrics are served (None without an ops port)."""
        return self.ops.url if self.ops else None

    def readiness(self) -> dict[str, str | None]:
        """Each readiness check: None when it passes, else why not."""
        return {"database": self._database_problem(), "slack": self._slack_problem()}

    def _database_problem(self) -> str | None:
        if self.wiring is None:
            return "not open (starting or stopping)"
        return self._database_check()

    def _query_database(self) -> None:
        wiring = self.wiring
        if wiring is None:
            raise RuntimeError("not open (starting or stopping)")
        with wiring.database.connect() as connection:  # a real query on the schema, not just a socket
            connection.execute(text("SELECT version_num FROM alembic_version")).first()

    def _slack_problem(self) -> str | None:
        if self.http is not None:
            return None if self.http.thread.is_alive() else "the HTTP server stopped"
        if self.socket is not None:
            connected = self.socket.client.is_connected()
            return None if connected else "Socket Mode is not connected (reconnecting)"
        return "not connected yet (starting or stopping)"

    def start(self) -> EtcdopsProcess:
        http = self.http_port is not None
        if not http and self.settings.slack_app_token is None:
            raise MissingSetting("Socket Mode needs SLACK_APP_TOKEN (or serve HTTP with --http)")
        if self.ops_port is not None:
            # First, so the probes answer (alive, not ready) while the database is migrated and Slack
            # connects.
            try:
                self.ops = OpsServer(self.readiness, host=self.ops_host, port=self.ops_port).start()
            except OSError as exc:
                raise MissingSetting(
                    f"cannot serve probes and metrics on {self.ops_host}:{self.ops_port}: {exc.strerror}; "
                    "set ETCDOPS_OPS_PORT to a free port (0: not served)"
                ) from exc
        try:
            self.wiring = wiring = wire(
                self.settings, extra_procedures=self.extra_procedures, clock=self.clock
            )
            if self.ops is not None:
                names = wiring.clusters.clusters
                self.ops.add_collector(
                    BackupCatalogCollector(wiring.sessions, lambda: [c.name for c in names], self.clock)
                )
            deps = BotDeps(self.settings, wiring.clusters, wiring.sessions, wiring.schedules)
            app = build_app(deps, http=http)
            if self.settings.etcdops_runner_workers > 0:  # 0: runs are left to `etcdops runner`
                self.runner = wiring.runner().start()
            self.relay = SlackRelay(
                wiring.sessions, app.client, wiring.clusters, lease=wiring.relay_lease()
            ).start()
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
                if self.relay.holds():
                    self.relay.pump()  # what the runner did last is shown before leaving
                self.relay.release()
            except Exception:
                log.warning("could not show the last changes in Slack; they will be at the next start")
            self.relay = None
        if self.wiring is not None:
            self.wiring.close()
            self.wiring = None
        if self.ops is not None:  # last: the liveness probe answers until the process is done
            self.ops.stop()
            self.ops = None

    def __enter__(self) -> EtcdopsProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
