#!/usr/bin/env bash
# Runs the whole test suite; "no tests ran" (pytest exit 5) is a failure, like any other.
#
# With no arguments, the lab's end-to-end tests and all the others run side by side, as two pytest
# processes: the lab tests mostly wait on the lab (rollouts, restarts, timers) and only one lab can run
# per machine, so they cannot be split further, while the others need no lab at all. The lab tests'
# output streams; the others' is printed when they end. With arguments, one plain pytest run.
set -uo pipefail
cd "$(dirname "$0")/.."

verdict() {  # $1: what ran, $2: pytest's exit code → this script's
  if [ "$2" -eq 5 ]; then
    echo "$1: pytest collected no tests: failing on purpose" >&2
    return 1
  fi
  return "$2"
}

if [ "$#" -gt 0 ]; then
  uv run pytest "$@"
  verdict "pytest $*" $?
  exit $?
fi

others_log=$(mktemp)
trap 'rm -f "$others_log"' EXIT
uv run pytest --ignore=tests/lab -p no:cacheprovider >"$others_log" 2>&1 &
others=$!
uv run pytest tests/lab -p no:cacheprovider
verdict "lab tests" $?
lab_code=$?
wait "$others"
verdict "other tests" $?
others_code=$?
echo
echo "=== the tests without the lab (run alongside) ==="
cat "$others_log"
if [ "$lab_code" -ne 0 ] || [ "$others_code" -ne 0 ]; then
  exit 1
fi
