"""The Kubernetes API through the official client: the few calls the procedures make, by resource name.

Resources are addressed by the names the seed uses (``etcd``, ``machines``, ``nodes``...) through a small
table, so each call is a plain REST request — no discovery round trips while the API is struggling.
A refused connection, a timeout or a 503 becomes :class:`ApiUnreachable`, which the runner treats as
transient and ``/etcd status`` reports plainly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL

from runner.ports import ApiUnreachable, CommandResult


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced:
            if not namespace:
                raise ValueError(f"{self.plural} are namespaced: a namespace is required")
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


RESOURCES = {
    "nodes": Resource("", "v1", "nodes", False),
    "pods": Resource("", "v1", "pods", True),
    "secrets": Resource("", "v1", "secrets", True),
    "machines": Resource("machine.openshift.io", "v1beta1", "machines", True),
    "etcd": Resource("operator.openshift.io", "v1", "etcds", False),
    "kubeapiserver": Resource("operator.openshift.io", "v1", "kubeapiservers", False),
    "kubecontrollermanager": Resource("operator.openshift.io", "v1", "kubecontrollermanagers", False),
    "kubescheduler": Resource("operator.openshift.io", "v1", "kubeschedulers", False),
    "clusterversion": Resource("config.openshift.io", "v1", "clusterversions", False),
    "proxy": Resource("config.openshift.io", "v1", "proxies", False),
    "apiserver": Resource("config.openshift.io", "v1", "apiservers", False),
    "csr": Resource("certificates.k8s.io", "v1", "certificatesigningrequests", False),
}


class KubeApi:
    def __init__(self, *, kubeconfig: Path | None, context: str | None = None, timeout: float = 10) -> None:
        configuration = client.Configuration()
        if kubeconfig is None:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), context=context, client_configuration=configuration
            )
        # Before the client exists: its connection pool takes the retry policy when it is made. An API
        # that is down is reported at once (the engine's retries and the probes decide what next),
        # not after urllib3 tried three more times.
        configuration.retries = False
        self._configuration = configuration
        self._api = client.ApiClient(configuration)
        self.timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            request = self._api.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(*request, _request_timeout=self.timeout)
            response.read()  # type: ignore[no-untyped-call]
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiUnreachable(f"the API is unreachable: {exc}") from exc
        except ApiException as exc:
            if exc.status == 0:  # the client's wrapping of a broken TLS session: no answer at all
                raise ApiUnreachable(f"the API is unreachable: {exc.reason}") from exc
            raise
        if response.status in (502, 503, 504):
            raise ApiUnreachable(f"the API answered {response.status}: {_message(response.data)}")
        if response.status >= 400:
            raise ApiException(status=response.status, reason=_message(response.data))
        return json.loads(response.data or b"null")

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", RESOURCES[resource].path(namespace, name))
        return result

    def list(
        self, resource: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        items: list[dict[str, Any]] = self._call("GET", RESOURCES[resource].path(namespace), query=query)[
            "items"
        ]
        return items

    def patch(self, resource: str, name: str, patch: dict[str, Any], namespace: str | None = None) -> None:
        self._call(
            "PATCH",
            RESOURCES[resource].path(namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
        )

    def create(self, resource: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        created: dict[str, Any] = self._call("POST", RESOURCES[resource].path(namespace), body=body)
        return created

    def update(
        self, resource: str, body: dict[str, Any], namespace: str | None = None, *, subresource: str = ""
    ) -> dict[str, Any]:
        path = RESOURCES[resource].path(namespace, str(body["metadata"]["name"]))
        updated: dict[str, Any] = self._call(
            "PUT", f"{path}/{subresource}" if subresource else path, body=body
        )
        return updated

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool:
        try:
            self._call("DELETE", RESOURCES[resource].path(namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60,
    ) -> CommandResult:
        # A client of its own: ``stream`` swaps the client's request method for a websocket one while it
        # runs, so on a shared client another thread's GET or LIST would go out as a websocket upgrade.
        exec_api = client.ApiClient(self._configuration)
        try:
            return self._exec(client.CoreV1Api(exec_api), namespace, pod, argv, container, timeout)
        finally:
            exec_api.close()  # type: ignore[no-untyped-call]

    def _exec(
        self,
        core: client.CoreV1Api,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        container: str | None,
        timeout: float,
    ) -> CommandResult:
        kwargs: dict[str, Any] = {"container": container} if container else {}
        try:
            resp = stream(
                core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=list(argv),
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
                **kwargs,
            )
        except ApiException as exc:
            if exc.status in (0, 502, 503, 504):
                raise ApiUnreachable(f"exec into {pod} failed: {_reason(exc)}") from exc
            raise
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise ApiUnreachable(f"exec into {pod} failed: {exc}") from exc
        try:
            resp.run_forever(timeout=timeout)
            out, err = resp.read_stdout(), resp.read_stderr()
            code, why = exit_status(resp.read_channel(ERROR_CHANNEL) if not resp.is_open() else "")
        finally:
            resp.sock.shutdown()  # websocket-client keeps the socket after the server closes the stream
        if why:
            err = f"{err.rstrip()}\n{why}".lstrip()
        return CommandResult(host=pod, argv=tuple(argv), exit_code=code, stdout=out, stderr=err)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]


def exit_status(status: str) -> tuple[int, str]:
    """The exit code in an exec's closing status, and why it failed when there is none (-1).

    The client's own ``returncode`` assumes every failure carries an ExitCode cause and raises
    KeyError when the API server ends the stream with a plain Failure (the container is gone, the
    kubelet does not answer): such an exec did not run, and says so in its message."""
    if not status:
        return -1, "the exec did not finish in time"
    try:
        parsed = json.loads(status)
    except ValueError:
        return -1, status[:300]
    if parsed.get("status") == "Success":
        return 0, ""
    for cause in (parsed.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message")), ""
            except (TypeError, ValueError):
                break
    return -1, str(parsed.get("message") or parsed.get("reason") or "the exec failed")


def _message(data: bytes | None) -> str:
    try:
        return str(json.loads(data or b"{}").get("message", ""))
    except ValueError:
        return (data or b"").decode(errors="replace")[:200]


def _reason(exc: ApiException) -> str:
    return _message(exc.body.encode() if isinstance(exc.body, str) else exc.body) or str(exc.reason)
