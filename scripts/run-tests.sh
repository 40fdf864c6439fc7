#!/usr/bin/env bash
# Runs the whole test suite; "no tests ran" (pytest exit 5) is a failure, like any other.
set -uo pipefail
cd "$(dirname "$0")/.."
uv run pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$code"
