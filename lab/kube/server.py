"""The lab's kube-apiserver: an aiohttp app over :class:`~lab.kube.store.Store`, and its command line.

Why it exists: no kube-apiserver binary can be had on the lab machine, yet the procedures must be
rehearsed with real ``kubectl``/``oc`` commands against objects that live in the lab's real etcd. So
this server keeps what those clients depend on — discovery, server-side tables, merge/JSON patch,
selectors, status and approval subresources, watch, pod exec, bearer tokens, TLS, an audit trail —
and answers every read from etcd itself: when etcd loses quorum the API fails (503) like the real one.

Run it as a lab master's static pod would::

    python -m lab.kube.server --bind 127.0.0.11:6443 \\
        --etcd-endpoints https://127.0.0.11:2379,https://127.0.0.12:2379 \\
        --etcd-cacert ca.crt --etcd-cert client.crt --etcd-key client.key \\
        --tls-cert serving.crt --tls-key serving.key --token-file tokens.csv --audit-log audit.log
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from lab.etcdclient import EtcdClient
from lab.kube.api import ResourceEndpoints
from lab.kube.audit import AuditLog, AuditRecord
from lab.kube.auth import TokenAuthenticator
from lab.kube.discovery import api_group, api_group_list, api_resource_list, api_versions, version_info
from lab.kube.errors import ApiError, InternalError, MethodNotAllowed, NotFound, Unauthorized, Unavailable
from lab.kube.exec_proxy import ExecRelay
from lab.kube.objects import UserInfo
from lab.kube.openapi import openapi_v2, openapi_v3_group, openapi_v3_root
from lab.kube.requestinfo import RequestInfo, parse_request_info
from lab.kube.store import Store

__all__ = ["DEFAULT_GIT_VERSION", "ServerOptions", "build_app", "main", "parse_args", "serve"]

log = logging.getLogger("lab.kube.server")

# OpenShift 4.19 ships Kubernetes 1.32. The minor version matters: the kubectl installed on the lab
# machine is a dispatcher that runs the kubectl matching the server's minor version, and exec over
# websockets (what this server relays) is kubectl's default from 1.30 on.
DEFAULT_GIT_VERSION = "v1.32.5+openshift"
_PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
_PROBE_PATHS = frozenset({"/healthz", "/livez", "/readyz"})

_INFO = web.RequestKey("request_info", RequestInfo)
_USER = web.RequestKey("user", UserInfo)


@dataclass(frozen=True)
class ServerOptions:
    git_version: str = DEFAULT_GIT_VERSION
    server_address: str = ""  # host:port that /api advertises
    kubelet_port: int = 10250
    health_timeout: float = 2.5
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class _AppState:
    store: Store
    endpoints: ResourceEndpoints
    exec_relay: ExecRelay
    authenticator: TokenAuthenticator
    audit: AuditLog | None
    options: ServerOptions


_STATE = web.AppKey("lab_kube_state", _AppState)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _error_response(exc: ApiError) -> web.Response:
    return _json(exc.status(), status=exc.code)


@web.middleware
async def _frontdoor(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Authenticate, turn errors into Status objects, and audit every request once."""
    state = request.app[_STATE]
    info = parse_request_info(request.method, request.path, request.query)
    request[_INFO] = info
    user: UserInfo | None = None
    code = 500
    try:
        if request.path not in _PUBLIC_PATHS:
            user = state.authenticator.authenticate(request.headers.get("Authorization"))
            if user is None:
                raise Unauthorized("Unauthorized")
            request[_USER] = user
        response = await handler(request)
        code = response.status
        return response
    except ApiError as exc:
        code = exc.code
        return _error_response(exc)
    except web.HTTPException as exc:
        code = exc.status
        if exc.status == 404:
            return _error_response(NotFound("the server could not find the requested resource"))
        if exc.status == 405:
            return _error_response(
                MethodNotAllowed(f"the server does not allow {request.method} on {request.path}")
            )
        raise
    except asyncio.CancelledError:
        code = 499  # the client went away
        raise
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        return _error_response(InternalError("an internal error occurred; see the API server's log"))
    finally:
        if state.audit is not None and request.path not in _PROBE_PATHS:
            state.audit.write(
                AuditRecord(
                    time=state.options.clock(),
                    user=user.name if user else "system:anonymous",
                    info=info,
                    code=code,
                )
            )


async def _livez(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _readyz(request: web.Request) -> web.Response:
    """Ready only while etcd serves a linearizable read: a lab API server without quorum is not ready."""
    state = request.app[_STATE]
    try:
        async with asyncio.timeout(state.options.health_timeout):
            await state.store.ping()
    except (Unavailable, ApiError, TimeoutError):
        return web.Response(status=503, text="[-]etcd failed: reason withheld\nreadyz check failed\n")
    if "verbose" in request.query:
        return web.Response(text="[+]ping ok\n[+]log ok\n[+]etcd ok\nreadyz check passed\n")
    return web.Response(text="ok")


async def _version(request: web.Request) -> web.Response:
    return _json(version_info(request.app[_STATE].options.git_version))


def _server_address(request: web.Request) -> str:
    configured = request.app[_STATE].options.server_address
    return configured or request.host


async def _api(request: web.Request) -> web.Response:
    return _json(api_versions(_server_address(request)))


async def _apis(request: web.Request) -> web.Response:
    return _json(api_group_list(request.app[_STATE].store.registry))


async def _apis_group(request: web.Request) -> web.Response:
    doc = api_group(request.app[_STATE].store.registry, request.match_info["group"])
    if doc is None:
        raise NotFound("the server could not find the requested resource")
    return _json(doc)


async def _resource_list(request: web.Request) -> web.Response:
    group = request.match_info.get("group", "")
    doc = api_resource_list(request.app[_STATE].store.registry, group, request.match_info["version"])
    if doc is None:
        raise NotFound("the server could not find the requested resource")
    return _json(doc)


async def _openapi_v2(request: web.Request) -> web.Response:
    body, content_type = openapi_v2(request.headers.get("Accept", ""))
    return web.Response(body=body, content_type=content_type)


async def _openapi_v3(request: web.Request) -> web.Response:
    return _json(openapi_v3_root(request.app[_STATE].store.registry))


async def _openapi_v3_group(request: web.Request) -> web.Response:
    doc = openapi_v3_group(request.app[_STATE].store.registry, request.match_info["path"])
    if doc is None:
        raise NotFound("the server could not find the requested resource")
    return _json(doc)


async def _resources(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    info = request[_INFO]
    if not info.is_resource_request:
        raise NotFound("the server could not find the requested resource")
    return await state.endpoints.handle(request, info, request.get(_USER))


def build_app(
    store: Store,
    *,
    authenticator: TokenAuthenticator | None = None,
    audit_log: AuditLog | None = None,
    options: ServerOptions | None = None,
) -> web.Application:
    """The API server app. It takes ownership of ``store.etcd`` and ``audit_log``: both are closed
    when the app is cleaned up. Serve it with ``handler_cancellation=True`` so watches end when
    their clients leave."""
    opts = options or ServerOptions()
    relay = ExecRelay(kubelet_port=opts.kubelet_port)
    app = web.Application(middlewares=[_frontdoor], client_max_size=32 * 1024 * 1024)
    app[_STATE] = _AppState(
        store=store,
        endpoints=ResourceEndpoints(store, relay, opts.clock),
        exec_relay=relay,
        authenticator=authenticator or TokenAuthenticator(None),
        audit=audit_log,
        options=opts,
    )

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        if audit_log is not None:
            audit_log.open()
        yield
        await relay.close()
        await store.etcd.close()
        if audit_log is not None:
            audit_log.close()

    app.cleanup_ctx.append(lifecycle)
    router = app.router
    router.add_get("/livez", _livez)
    router.add_get("/healthz", _readyz)
    router.add_get("/readyz", _readyz)
    router.add_get("/version", _version)
    router.add_get("/version/", _version)
    router.add_get("/openapi/v2", _openapi_v2)
    router.add_get("/openapi/v3", _openapi_v3)
    router.add_get("/openapi/v3/{path:.+}", _openapi_v3_group)
    router.add_get("/api", _api)
    router.add_get("/api/", _api)
    router.add_get("/api/{version}", _resource_list)
    router.add_get("/apis", _apis)
    router.add_get("/apis/", _apis)
    router.add_get("/apis/{group}", _apis_group)
    router.add_get("/apis/{group}/{version}", _resource_list)
    router.add_route("*", "/api/{version}/{tail:.+}", _resources)
    router.add_route("*", "/apis/{group}/{version}/{tail:.+}", _resources)
    return app


# --- command line ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lab.kube.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", required=True, help="IP:PORT to listen on, e.g. 127.0.0.11:6443")
    parser.add_argument("--etcd-endpoints", required=True, help="comma-separated etcd client URLs")
    parser.add_argument("--etcd-cacert", help="CA bundle that signed the etcd serving certificates")
    parser.add_argument("--etcd-cert", help="client certificate for etcd")
    parser.add_argument("--etcd-key", help="client key for etcd")
    parser.add_argument("--etcd-timeout", type=float, default=2.5, help="seconds an etcd call may take")
    parser.add_argument("--tls-cert", help="serving certificate (HTTPS when given with --tls-key)")
    parser.add_argument("--tls-key", help="serving key")
    parser.add_argument("--token-file", help='static token CSV: token,user,uid,"group1,group2"')
    parser.add_argument("--audit-log", help="append one JSON line per request to this file")
    parser.add_argument("--kubelet-port", type=int, default=10250, help="port of the nodes' kubelets")
    parser.add_argument("--kube-version", default=DEFAULT_GIT_VERSION, help="gitVersion served at /version")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if bool(args.etcd_cert) != bool(args.etcd_key):
        parser.error("--etcd-cert and --etcd-key go together")
    return args


def split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--bind must be IP:PORT, not {bind!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - only when asked for ":PORT"


def etcd_ssl_context(cacert: str | None, cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not (cacert or cert):
        return None
    context = ssl.create_default_context(cafile=cacert)
    if cert and key:
        context.load_cert_chain(cert, key)
    return context


def serving_ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not (cert and key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def serve(args: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop`` is set)."""
    host, port = split_bind(args.bind)
    endpoints = [e.strip() for e in args.etcd_endpoints.split(",") if e.strip()]
    etcd = EtcdClient(
        endpoints,
        ssl_context=etcd_ssl_context(args.etcd_cacert, args.etcd_cert, args.etcd_key),
        timeout=args.etcd_timeout,
    )
    app = build_app(
        Store(etcd),
        authenticator=TokenAuthenticator.from_file(args.token_file),
        audit_log=AuditLog(args.audit_log) if args.audit_log else None,
        options=ServerOptions(
            git_version=args.kube_version,
            server_address=f"{host}:{port}",
            kubelet_port=args.kubelet_port,
        ),
    )
    # Open watches would hold a graceful shutdown for a minute; a static pod must stop promptly.
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(
        runner, host, port, ssl_context=serving_ssl_context(args.tls_cert, args.tls_key), reuse_address=True
    )
    await site.start()
    log.warning("lab kube-apiserver serving on %s:%d (etcd: %s)", host, port, ",".join(endpoints))
    stopped = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for path in (
        args.tls_cert,
        args.tls_key,
        args.token_file,
        args.etcd_cacert,
        args.etcd_cert,
        args.etcd_key,
    ):
        if path and not Path(path).is_file():
            raise SystemExit(f"no such file: {path}")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
