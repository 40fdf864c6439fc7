"""The ``etcdops`` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from lab.cli import app as lab_app

app = typer.Typer(
    help="etcdops: OpenShift etcd operations from Slack, and a lab to rehearse them.", no_args_is_help=True
)
app.add_typer(lab_app, name="lab")


@app.command()
def serve(
    http: Annotated[
        bool, typer.Option("--http", help="serve Slack's HTTP requests instead of Socket Mode")
    ] = False,
    port: Annotated[int, typer.Option(help="HTTP port (with --http)")] = 3000,
    host: Annotated[str, typer.Option(help="HTTP address to bind (with --http)")] = "127.0.0.1",
) -> None:
    """Run the bot: Socket Mode by default (SLACK_APP_TOKEN), or HTTP with signature checks."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import BotDeps, MissingSetting, build_app
    from bot.http_server import BoltHttpServer
    from bot.settings import Settings

    settings = Settings()
    try:
        slack_app = build_app(BotDeps(settings), http=http)
    except MissingSetting as exc:
        typer.echo(f"cannot start the bot: {exc}", err=True)
        raise typer.Exit(2) from exc
    if http:
        server = BoltHttpServer(slack_app, host, port)
        typer.echo(f"etcdops serving Slack requests at {server.url}")
        server.serve_forever()
        return
    if settings.slack_app_token is None:
        typer.echo("cannot start the bot: Socket Mode needs SLACK_APP_TOKEN (or use --http)", err=True)
        raise typer.Exit(2)
    typer.echo("etcdops connecting to Slack over Socket Mode")
    SocketModeHandler(slack_app, settings.slack_app_token.get_secret_value()).start()  # type: ignore[no-untyped-call]


@app.callback()
def _root() -> None:
    """etcdops command line."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
