"""The ops endpoints of every ``etcdops serve`` process, on a port of their own (``ETCDOPS_OPS_PORT``):

- ``GET /healthz`` — 200 while the process runs (the liveness probe);
- ``GET /readyz`` — 200 when every readiness check passes, else 503; both answer JSON naming each check
  and, when one fails, why (the readiness probe);
- ``GET /metrics`` — Prometheus text (or OpenMetrics, if asked for): the process-wide registry plus the
  collectors of this process (the backup catalog, read at scrape time).

In HTTP mode Slack's requests keep their own port: that one is exposed to Slack through an ingress, and
metrics should not be. Requests are not logged (probes would drown the log).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric

from storage.redact import redact

log = logging.getLogger(__name__)

Checks = Callable[[], Mapping[str, str | None]]  # check name → None when it passes, else why not


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class _Scrape:
    """What one scrape reports: the process-wide registry, then this server's own collectors."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        for collector in self.collectors:
            yield from collector.collect()


class TimedCheck:
    """Runs a check with a deadline: a database that hangs makes the probe fail in ``timeout`` seconds
    instead of hanging it. One attempt at a time (in a daemon thread, so a hung one never holds up the
    process's exit); probes arriving meanwhile wait on the same attempt."""

    def __init__(self, check: Callable[[], None], timeout: float = 2.0) -> None:
        self._check = check
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: concurrent.futures.Future[None] | None = None

    def _attempt(self, future: concurrent.futures.Future[None]) -> None:
        try:
            self._check()
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)

    def __call__(self) -> str | None:
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = concurrent.futures.Future()
                threading.Thread(
                    target=self._attempt, args=(self._pending,), name="ops-check", daemon=True
                ).start()
            pending = self._pending
        try:
            pending.result(self._timeout)
        except concurrent.futures.TimeoutError:
            return f"no answer within {self._timeout:g} s"
        except Exception as exc:
            return str(exc).strip().split("\n", 1)[0] or type(exc).__name__
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class OpsServer:
    """``with OpsServer(checks, collectors, host, port) as ops:`` serves until the block ends."""

    def __init__(
        self, checks: Checks, collectors: Iterable[Collector] = (), host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._scrape = scrape = _Scrape(collectors)
        said: dict[str, bool] = {"ready": False}

        def readiness() -> tuple[int, bytes]:
            results = {name: (redact(why) if why else None) for name, why in checks().items()}
            ready = all(why is None for why in results.values())
            if ready != said["ready"]:
                said["ready"] = ready
                failing = "; ".join(f"{name}: {why}" for name, why in results.items() if why)
                if ready:
                    log.info("ready: the database answers and Slack is connected")
                else:
                    log.warning("not ready: %s", failing)
            body = {"ready": ready, "checks": {name: why or "ok" for name, why in results.items()}}
            return (200 if ready else 503), json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._reply(200, b'{"alive": true}', "application/json")
                elif path == "/readyz":
                    status, body = readiness()
                    self._reply(status, body, "application/json")
                elif path == "/metrics":
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._reply(200, encoder(scrape), content_type)
                else:
                    self._reply(404, b'{"error": "not found"}', "application/json")

            def _reply(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return  # a probe every few seconds is not news

        self.server = _Server((host, port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.2,), name="ops-http", daemon=True
        )

    def add_collector(self, collector: Collector) -> None:
        """Report this collector's metrics too, from the next scrape on."""
        self._scrape.collectors.append(collector)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OpsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
