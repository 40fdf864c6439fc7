"""``python -m lab.slack``: run a local Slack until SIGTERM/SIGINT, printing how to reach it."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from lab.slack.config import load_config
from lab.slack.server import start_local_slack


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.slack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--config", type=Path, help="YAML workspace file (users, groups, channels, scopes...)"
    )
    parser.add_argument("--request-url", help="deliver commands/interactions by signed HTTP POST here")
    parser.add_argument("--info-file", type=Path, help="also write the connection info as JSON here")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    config = load_config(args.config, request_url=args.request_url)
    slack = await start_local_slack(config, args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    info = json.dumps(slack.info(), indent=2)
    if args.info_file is not None:
        args.info_file.write_text(info + "\n")
    print(info, flush=True)
    try:
        await stop.wait()
    finally:
        await slack.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
