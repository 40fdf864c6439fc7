#!/usr/bin/env bash
# Installs what the lab and the tests need from Debian when it is missing, without starting any
# system service: the lab runs its own sshd per host, and a system sshd on 0.0.0.0:22 would take the
# hosts' port. Safe to run again: it only acts when something is missing.
set -euo pipefail

need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v initdb >/dev/null 2>&1 || [ -d /usr/lib/postgresql ] || need+=(postgresql)
# Debian's etcd 3.4 is the lab's second etcd flavour (`etcdops lab up --etcd 3.4`).
[ -x /usr/bin/etcd ] || need+=(etcd-server)
[ -x /usr/bin/etcdctl ] || need+=(etcd-client)
# The container image is built and run by a lab test (scripts/build-image.sh, `make image`).
command -v podman >/dev/null 2>&1 || need+=(podman buildah runc uidmap fuse-overlayfs)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "missing Debian packages: ${need[*]} — run as root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}" >&2
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [ "$created_policy" = "1" ]; then rm -f "$policy"; fi
