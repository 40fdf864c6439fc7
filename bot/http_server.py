"""Serving a Bolt app over HTTP on a chosen address (Bolt's own dev server always binds 0.0.0.0).

``/slack/events`` goes to Bolt, which checks Slack's signature and timestamp on every request;
``/healthz`` answers for probes. Threads keep a slow listener from holding up other requests.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import App, BoltRequest

EVENTS_PATH = "/slack/events"


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when Slack delivers a burst at once, and each dropped
    # one is retried only after a second — a third of the time a slash command has to be acked.
    request_queue_size = 128
    daemon_threads = True


class BoltHttpServer:
    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        bolt = app

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path in ("/healthz", "/readyz"):
                    self._reply(200, b"ok", {})
                else:
                    self._reply(404, b"not found", {})

            def do_POST(self) -> None:
                path, _, query = self.path.partition("?")
                if path != EVENTS_PATH:
                    self._reply(404, b"not found", {})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                headers: dict[str, str | Sequence[str]] = {k.lower(): [v] for k, v in self.headers.items()}
                response = bolt.dispatch(BoltRequest(body=body, query=query, headers=headers))
                self._reply(response.status, response.body.encode(), response.headers)

            def _reply(self, status: int, payload: bytes, headers: dict[str, Sequence[str]]) -> None:
                self.send_response(status)
                for key, values in headers.items():
                    for value in values:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return  # requests carry tokens in their bodies: nothing from them goes to the logs

        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{EVENTS_PATH}"

    def serve_forever(self) -> None:
        self.server.serve_forever(0.2)

    def __enter__(self) -> BoltHttpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()
