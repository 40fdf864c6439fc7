"""The baseline of ``bench.ack_latency``: a bare Bolt app whose ``/etcd`` listener only calls ``ack()``.

It runs in its own process, like etcdops does, on the same Slack settings from the environment
(``SLACK_BOT_TOKEN``, ``SLACK_APP_TOKEN``, ``SLACK_SIGNING_SECRET``, ``SLACK_API_URL``), over Socket Mode
or over HTTP with the same HTTP server etcdops uses:

    python -m bench.bare_bolt [--http --port P]
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Sequence

from slack_bolt import Ack, App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from bot.http_server import BoltHttpServer


def build_bare_app() -> App:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @app.command("/etcd")
    def etcd(ack: Ack) -> None:
        ack()

    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_bolt")
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    app = build_bare_app()
    if args.http:
        with BoltHttpServer(app, "127.0.0.1", args.port):
            stop.wait()
        return
    handler = SocketModeHandler(app, os.environ["SLACK_APP_TOKEN"])
    handler.connect()  # type: ignore[no-untyped-call]
    stop.wait()
    handler.close()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
