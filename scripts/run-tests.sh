#!/usr/bin/env bash
# Runs the whole test suite; "no tests ran" (pytest exit 5) is a failure, like any other.
#
# With no arguments: the lab's end-to-end tests (one lab at a time, mostly waiting on it) run in the
# foreground, and every other test beside them at the lowest CPU priority (nice 19), so the lab keeps
# the cores it needs and the suite takes about as long as the lab tests alone. The other tests' output
# is printed when both are done. With arguments: one pytest with those arguments.
set -uo pipefail
cd "$(dirname "$0")/.."

check() {  # check NAME CODE: pytest's exit code, with "collected nothing" turned into a failure
  if [ "$2" -eq 5 ]; then
    echo "$1: pytest collected no tests: failing on purpose" >&2
    return 1
  fi
  return "$2"
}

if [ "$#" -gt 0 ]; then
  uv run pytest "$@"
  check "pytest" $?
  exit $?
fi

others_log="$(mktemp -t etcdops-tests-XXXXXX.log)"
nice -n 19 uv run pytest tests --ignore=tests/lab -p no:cacheprovider >"$others_log" 2>&1 &
others=$!
uv run pytest tests/lab
lab_code=$?
wait "$others"
others_code=$?
echo
echo "=============== the tests outside the lab (run beside it, nice 19) ==============="
cat "$others_log"
rm -f "$others_log"
status=0
check "tests/lab" "$lab_code" || status=1
check "the other tests" "$others_code" || status=1
exit "$status"
