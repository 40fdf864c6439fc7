"""The runner's ports: what procedures need from the outside world, as Protocols.

Procedures and the engine depend only on these; ``runner/adapters`` implement them with paramiko and the
kubernetes client, so tests and the lab exercise the real adapters and the planner stays pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class CommandResult:
    host: str
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class FetchedFile:
    remote_path: str
    local_path: Path
    size: int
    sha256: str


class StreamDigest(Protocol):
    """Something that reads a file as it is copied (a checksum, a snapshot's integrity check)."""

    def update(self, chunk: bytes) -> None: ...

    def hexdigest(self) -> str: ...


class HostError(Exception):
    """A master could not be used; ``retryable`` says whether trying again (or another master) may help."""

    retryable = True

    def __init__(self, host: str, message: str) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host


class HostUnreachable(HostError):
    """No SSH connection (machine down, network, sshd not answering)."""


class HostKeyRejected(HostError):
    """The host's key is unknown or differs from known_hosts: never connect, never learn it silently."""

    retryable = False


class Hosts(Protocol):
    """Commands and files on the masters, over SSH (the way the seed reaches them during a restore)."""

    def run(
        self, host: str, argv: Sequence[str], *, sudo: bool = False, timeout: float = 600
    ) -> CommandResult:
        """Run ``argv`` (each element quoted, never interpreted by a shell) and wait for it."""
        ...

    def fetch(
        self,
        host: str,
        remote_path: str,
        local_path: Path,
        *,
        sudo: bool = False,
        digest: StreamDigest | None = None,
    ) -> FetchedFile:
        """Copy a file off the host, feeding ``digest`` (a plain SHA-256 by default) while it streams;
        ``FetchedFile.sha256`` is the digest's ``hexdigest()``. A partial copy never keeps the name."""
        ...

    def put(self, host: str, local_path: Path, remote_path: str, *, sudo: bool = False) -> str:
        """Copy a file onto the host (a partial copy never keeps the name). The host's SHA-256 of what
        it wrote must equal that of the bytes sent (else :class:`HostError`); returns that SHA-256."""
        ...

    def close(self) -> None: ...


def path_exists(hosts: Hosts, host: str, path: str) -> bool:
    """``sudo test -e PATH`` on the host: what the SSH steps' probes ask (moved aside yet?)."""
    return hosts.run(host, ["test", "-e", path], sudo=True).ok


class ApiUnreachable(Exception):
    """The Kubernetes API does not answer (refused, timed out, or 503 from a cluster without quorum)."""

    retryable = True


class Kube(Protocol):
    """The cluster's API: reads, merge patches, and exec into a pod (``oc rsh``)."""

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]: ...

    def list(
        self, resource: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> list[dict[str, Any]]: ...

    def patch(
        self, resource: str, name: str, patch: dict[str, Any], namespace: str | None = None
    ) -> None: ...

    def create(self, resource: str, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create the object (``oc apply -f`` of a new one); returns it as stored."""
        ...

    def update(
        self, resource: str, body: dict[str, Any], namespace: str | None = None, *, subresource: str = ""
    ) -> dict[str, Any]:
        """Replace an object (PUT), or one of its subresources such as a CSR's ``approval``."""
        ...

    def delete(self, resource: str, name: str, namespace: str | None = None) -> bool:
        """Delete the object; False when it was already gone (so a redone step is harmless)."""
        ...

    def exec(
        self,
        namespace: str,
        pod: str,
        argv: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60,
    ) -> CommandResult: ...

    def close(self) -> None: ...
