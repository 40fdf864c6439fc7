"""The ``etcdops`` command line: the bot (``serve``), the demo, the backup catalog, migrations, the lab."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from lab.cli import app as lab_app

app = typer.Typer(
    help="etcdops: OpenShift etcd operations from Slack, and a lab to rehearse them.", no_args_is_help=True
)
app.add_typer(lab_app, name="lab")


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def serve(
    http: Annotated[
        bool, typer.Option("--http", help="serve Slack's HTTP requests instead of Socket Mode")
    ] = False,
    port: Annotated[int, typer.Option(help="HTTP port (with --http)")] = 3000,
    host: Annotated[str, typer.Option(help="HTTP address to bind (with --http)")] = "127.0.0.1",
) -> None:
    """Run the bot: Socket Mode by default (SLACK_APP_TOKEN), or HTTP with signature checks; the runner
    and the Slack relay run in the same process."""
    from bot.app import MissingSetting
    from bot.clusters import ClustersFileError
    from bot.process import EtcdopsProcess
    from bot.settings import Settings

    _logging()
    try:
        bot = EtcdopsProcess(Settings(), http_port=port if http else None, http_host=host).start()
    except (MissingSetting, ClustersFileError) as exc:
        typer.echo(f"cannot start the bot: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"etcdops serving Slack requests at {bot.url}" if http else "etcdops connected over Socket Mode",
        err=True,
    )
    try:
        _wait_for_signal()
    finally:
        bot.stop()


@app.command()
def migrate() -> None:
    """Bring the database (DATABASE_URL) to the latest schema; safe to run again."""
    from bot.settings import Settings
    from storage.migrate import migrate as run_migrations

    settings = Settings()
    run_migrations(settings.database_url)
    typer.echo(f"database at the latest schema: {settings.database_url.split('@')[-1]}")


@app.command()
def backups(cluster: Annotated[str | None, typer.Argument(help="cluster name")] = None) -> None:
    """List the backup catalog (all clusters, or one)."""
    from bot.clusters import ClustersFileError, load_clusters
    from bot.settings import Settings
    from handlers.backups import backup_line
    from storage import backups as catalog
    from storage.db import make_engine, make_session_factory
    from storage.migrate import migrate as run_migrations

    settings = Settings()
    try:
        names = [c.name for c in load_clusters(settings.etcdops_clusters).clusters]
    except ClustersFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    if cluster is not None and cluster not in names:
        typer.echo(f"no cluster {cluster!r}; the clusters are: {', '.join(names)}", err=True)
        raise typer.Exit(2)
    run_migrations(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            for name in [cluster] if cluster else names:
                entries = catalog.list_backups(name, session=session)
                typer.echo(f"{name}: {len(entries)} backup(s)")
                for entry in entries:
                    typer.echo(backup_line(entry).replace("*", "").replace("`", ""))
    finally:
        engine.dispose()


@app.callback()
def _root() -> None:
    """etcdops command line."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
