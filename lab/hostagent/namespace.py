"""Gives a lab host its own view of OpenShift's paths, inside its own mount namespace.

The seed's commands name fixed paths (``sudo mv /var/lib/etcd/ /tmp``). Each host agent runs in a new
mount namespace where those paths are bind mounts of the host's own folders, so the same command typed
on master-0 acts on master-0 only. ``/var/lib`` is replaced whole, not ``/var/lib/etcd`` alone, because
a mount point cannot be moved: the seed moves ``/var/lib/etcd`` itself.

Folders the host still needs from the machine (the lab folder, the Python environment) may live under
one of those paths — a clone in /tmp, say — so they are bound back in at the same place.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from lab.paths import HOST_PRIVATE_PATHS, HostPaths


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _under(path: Path, parent: str) -> bool:
    return path == Path(parent) or Path(parent) in path.parents


def enter_host_filesystem(host: HostPaths, keep_visible: list[Path], hostname: str, passwd: Path) -> None:
    """Mount the host's private folders over OpenShift's paths. Must run in a new mount namespace."""
    _mount("--make-rprivate", "/")
    for private in HOST_PRIVATE_PATHS:
        backing = host.private(private)
        backing.mkdir(parents=True, exist_ok=True)
        Path(private).mkdir(parents=True, exist_ok=True)
        for keep in keep_visible:
            if _under(keep, private) and keep.exists():
                inner = backing / keep.relative_to(private)
                inner.mkdir(parents=True, exist_ok=True)
                _mount("--rbind", str(keep), str(inner))
        _mount("--rbind", str(backing), private)
    _mount("--bind", str(passwd), "/etc/passwd")
    socket.sethostname(hostname)


def host_passwd(system_passwd: str) -> str:
    """The host's /etc/passwd: the machine's users plus ``core``, the user the seed logs in as.

    ``core`` has uid 0 because everything in the lab runs as root; ``sudo`` on a lab host only drops its
    own options.
    """
    lines = [line for line in system_passwd.splitlines() if not line.startswith("core:")]
    lines.append("core:x:0:0:CoreOS Admin:/home/core:/bin/bash")
    return "\n".join(lines) + "\n"
