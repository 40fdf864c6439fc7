"""The ``etcdops`` command line."""

from __future__ import annotations

import typer

from lab.cli import app as lab_app

app = typer.Typer(
    help="etcdops: OpenShift etcd operations from Slack, and a lab to rehearse them.", no_args_is_help=True
)
app.add_typer(lab_app, name="lab")


@app.callback()
def _root() -> None:
    """etcdops command line."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
