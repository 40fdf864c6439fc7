"""An ``etcdops runner`` process: executes runs and fires schedules, and never talks to Slack.

In the scaled-out shape, ``etcdops serve`` replicas (``ETCDOPS_RUNNER_WORKERS=0``) answer Slack and
post the timeline, and one runner process per cluster group does the work. Everything they share is in
the database: runs are claimed with row locks, schedules fire on the lease holder, so the runner can be
restarted, or killed, at any moment and its runs resume from the journal. It answers probes and serves
metrics on the ops port like the bot; it is ready when its database answers.
"""

from __future__ import annotations

import logging
from types import TracebackType

from sqlalchemy import text

from bot.ops_server import OpsServer, TimedCheck
from bot.settings import Settings
from bot.wiring import Wiring, wire
from runner.service import RunnerService

log = logging.getLogger(__name__)


class RunnerProcess:
    """``with RunnerProcess(settings):`` — runs executed and schedules fired here."""

    def __init__(self, settings: Settings, *, ops_port: int | None = None, ops_host: str = "127.0.0.1"):
        self.settings = settings
        self.ops_port, self.ops_host = ops_port, ops_host
        self.wiring: Wiring | None = None
        self.runner: RunnerService | None = None
        self.ops: OpsServer | None = None
        self._database_check = TimedCheck(self._query_database)

    def readiness(self) -> dict[str, str | None]:
        return {"database": self._database_check() if self.wiring else "not open (starting or stopping)"}

    def _query_database(self) -> None:
        wiring = self.wiring
        if wiring is None:
            raise RuntimeError("not open (starting or stopping)")
        with wiring.database.connect() as connection:
            connection.execute(text("SELECT version_num FROM alembic_version")).first()

    def start(self) -> RunnerProcess:
        if self.ops_port is not None:
            self.ops = OpsServer(self.readiness, host=self.ops_host, port=self.ops_port).start()
        try:
            self.wiring = wire(self.settings)
            self.runner = self.wiring.runner(workers=max(1, self.settings.etcdops_runner_workers)).start()
            self.wiring.schedules.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        if self.wiring is not None:
            self.wiring.close()
            self.wiring = None
        if self.ops is not None:
            self.ops.stop()
            self.ops = None

    def __enter__(self) -> RunnerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
