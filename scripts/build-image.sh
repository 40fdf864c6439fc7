#!/usr/bin/env bash
# Builds the etcdops image on a machine without a container registry: a local Debian base made with
# debootstrap (once), a wheelhouse of the locked dependencies from PyPI, then `podman build` offline.
#
#   scripts/build-image.sh [TAG]        # default localhost/etcdops:latest
#
# Installs podman, buildah and debootstrap from Debian when they are missing. The base is kept
# (localhost/etcdops-base:bookworm) and reused; the wheelhouse and the build run every time.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-localhost/etcdops:latest}"
BASE=localhost/etcdops-base:bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# podman asks for rlimits above this sandbox's hard limits unless told what to use, and crun (if apt
# chose it) fails on these machines' hybrid cgroups: runc works.
CONF="$(mktemp -t etcdops-containers-XXXXXX.conf)"
CONTEXT="$(mktemp -d -t etcdops-image-XXXXXX)"
trap 'rm -rf "$CONF" "$CONTEXT"' EXIT
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' >"$CONF"
export CONTAINERS_CONF="$CONF"

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "installing podman, buildah and debootstrap (Debian packages) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    podman buildah debootstrap runc uidmap fuse-overlayfs >/dev/null
fi

if ! podman image exists "$BASE"; then
  echo "making the local base $BASE with debootstrap (about a minute, once) ..."
  ROOTFS="$CONTEXT/rootfs"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$MIRROR" "$MIRROR" >"$ROOTFS/etc/apt/sources.list"
  chroot "$ROOTFS" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" apt-get install -y -qq --no-install-recommends \
    python3 python3-venv ca-certificates >/dev/null
  DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" apt-get -y -qq upgrade >/dev/null
  chroot "$ROOTFS" apt-get clean
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/*
  : >"$ROOTFS/etc/resolv.conf"
  rm -f "$ROOTFS/etc/hostname"
  tar -C "$ROOTFS" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
    podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' - "$BASE" >/dev/null
  rm -rf "$ROOTFS"
fi

echo "collecting the wheelhouse ..."
mkdir -p "$CONTEXT/wheelhouse"
uv export --format requirements-txt --no-dev --no-emit-project --frozen -q -o "$CONTEXT/wheelhouse/requirements.txt"
uv run --no-sync python -m pip --version >/dev/null 2>&1 || uv pip install -q pip
uv run --no-sync python -m pip download -q --only-binary=:all: --require-hashes \
  -r "$CONTEXT/wheelhouse/requirements.txt" -d "$CONTEXT/wheelhouse" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
uv build -q --wheel --out-dir "$CONTEXT/wheelhouse"
cp deploy/Containerfile "$CONTEXT/Containerfile"

echo "building $TAG (offline) ..."
podman build -q --pull=never --network=none --build-arg BASE="$BASE" -t "$TAG" -f "$CONTEXT/Containerfile" "$CONTEXT"
echo "built $TAG"
