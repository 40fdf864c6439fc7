"""The ``etcdops`` command line: the bot (``serve``), the demo, the backup catalog, migrations, the lab."""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
from typing import Annotated

import typer

from lab.cli import app as lab_app

GIL_SWITCH_INTERVAL_S = 0.001  # `etcdops serve`: Slack acks first (see serve)

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
    and the Slack relay run in the same process. Probes and metrics are served on ETCDOPS_OPS_PORT."""
    from bot.app import MissingSetting
    from bot.clusters import ClustersFileError
    from bot.logs import configure_logging, secret_values
    from bot.process import EtcdopsProcess
    from bot.settings import Settings

    settings = Settings()
    configure_logging(settings.etcdops_log_format, secrets=secret_values(settings))
    log = logging.getLogger("etcdops")
    try:
        bot = EtcdopsProcess(
            settings,
            http_port=port if http else None,
            http_host=host,
            ops_port=settings.etcdops_ops_port or None,
            ops_host=settings.etcdops_ops_host,
        ).start()
    except (MissingSetting, ClustersFileError) as exc:
        typer.echo(f"cannot start the bot: {exc}", err=True)
        raise typer.Exit(2) from exc
    log.info(f"etcdops serving Slack requests at {bot.url}" if http else "etcdops connected over Socket Mode")
    if bot.ops_url:
        log.info("probes and metrics at %s (/healthz, /readyz, /metrics)", bot.ops_url)
    # Everything made while starting (modules, the Kubernetes and Slack clients, the app) lives as long
    # as the process: out of the collector's sight, a full collection no longer walks it in the middle
    # of a burst of commands (a stall every queued ack would wait out).
    gc.freeze()
    # A Slack listener recording a command gives the GIL up at each SQL statement; with Python's default
    # 5 ms switch interval, getting it back behind a busy thread costs more than the statement itself.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    try:
        _wait_for_signal()
    finally:
        bot.stop()


@app.command()
def runner() -> None:
    """Execute runs and fire schedules without talking to Slack: the worker of the scaled-out shape,
    beside `etcdops serve` replicas started with ETCDOPS_RUNNER_WORKERS=0 on the same DATABASE_URL."""
    from bot.clusters import ClustersFileError
    from bot.logs import configure_logging, secret_values
    from bot.runner_process import RunnerProcess
    from bot.settings import Settings

    settings = Settings()
    configure_logging(settings.etcdops_log_format, secrets=secret_values(settings))
    log = logging.getLogger("etcdops")
    try:
        process = RunnerProcess(
            settings, ops_port=settings.etcdops_ops_port or None, ops_host=settings.etcdops_ops_host
        ).start()
    except (ClustersFileError, OSError) as exc:
        typer.echo(f"cannot start the runner: {exc}", err=True)
        raise typer.Exit(2) from exc
    log.info("etcdops runner executing runs (%s workers)", max(1, settings.etcdops_runner_workers))
    try:
        _wait_for_signal()
    finally:
        process.stop()


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


@app.command()
def demo(
    lab_dir: Annotated[
        str | None, typer.Option("--dir", help="lab folder (default .lab or $ETCDOPS_LAB_DIR)")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="where the bot keeps its runs (default: SQLite in the lab)"),
    ] = None,
    db_mb: Annotated[int, typer.Option("--db-mb", help="preload about N MB into the lab's etcd")] = 0,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="stop after the script")] = False,
) -> None:
    """The lab, a local Slack and the bot; alice runs /etcd status and /etcd backup; the bot stays up."""
    from bot.demo import DemoPlan, run_demo
    from lab.lifecycle import LabBusy
    from lab.paths import LabPaths, resolve_lab_dir
    from lab.runtime import MissingDependency

    _logging()
    logging.getLogger().setLevel(logging.WARNING)  # the transcript is the demo's output
    paths = LabPaths(resolve_lab_dir(lab_dir))
    # The lab is made anew for each demo, so by default its catalog is too: no entry outlives its files.
    plan = DemoPlan(paths, database_url or f"sqlite:///{paths.root / 'etcdops.db'}", db_mb=db_mb)
    try:
        run_demo(plan, typer.echo, (lambda: None) if no_wait else _wait_for_signal)
    except (MissingDependency, LabBusy) as exc:
        typer.echo(f"cannot start the demo: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def slack(
    text: Annotated[str, typer.Argument(help='what to type, e.g. "/etcd status"')],
    user: Annotated[str, typer.Option("--as", help="who types it: alice, bob, carol or mallory")] = "alice",
    lab_dir: Annotated[str | None, typer.Option("--dir", help="the demo's lab folder")] = None,
    wait: Annotated[float, typer.Option(help="seconds to watch the channel for the bot's answer")] = 8.0,
) -> None:
    """Type a slash command into the running demo's local Slack and print what the channel shows."""
    from bot.demo import CHANNEL, channel_text, read_slack_info
    from lab.paths import resolve_lab_dir
    from lab.slack import SlackDriver

    try:
        info = read_slack_info(resolve_lab_dir(lab_dir))
    except FileNotFoundError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    command, _, rest = text.strip().partition(" ")
    if command != "/etcd":
        typer.echo('only /etcd is installed in this workspace: try "/etcd help"', err=True)
        raise typer.Exit(2)
    driver = SlackDriver(info["url"])
    seen = len(driver.transcript(CHANNEL, as_user="*"))
    driver.slash(user, CHANNEL, command, rest)
    time.sleep(wait)
    typer.echo(channel_text(driver, since=seen))


@app.callback()
def _root() -> None:
    """etcdops command line."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
