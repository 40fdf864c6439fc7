#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine: Debian packages (sshd, etcd 3.4, kubectl,
# PostgreSQL) when missing, uv when missing, and the locked Python environment.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet uv
fi
uv sync --frozen --quiet
