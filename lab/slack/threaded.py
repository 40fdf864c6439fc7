"""Run a local Slack on its own event loop thread, for synchronous code such as pytest tests."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from lab.slack.config import SlackConfig
from lab.slack.server import LocalSlack


class LocalSlackThread:
    """Context manager: starts the server in a background thread and stops it (and the thread) on exit."""

    def __init__(self, config: SlackConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.slack = LocalSlack(config, host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-slack", daemon=True)

    @property
    def url(self) -> str:
        return self.slack.url

    def start(self) -> LocalSlackThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.slack.start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.slack.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> LocalSlackThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
