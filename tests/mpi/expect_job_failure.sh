#!/usr/bin/env bash
# Runs a command that must fail: checks that it exits non-zero within MAX_SECONDS and that its combined
# output matches every PATTERN (extended regular expressions).
#   expect_job_failure.sh MAX_SECONDS PATTERN... -- COMMAND [ARGS...]     (MAX_SECONDS: whole seconds)
set -u
max_seconds=$1
shift
patterns=()
while [[ $# -gt 0 && $1 != "--" ]]; do
  patterns+=("$1")
  shift
done
[[ $# -gt 0 ]] || { echo "usage: $0 MAX_SECONDS PATTERN... -- COMMAND [ARGS...]" >&2; exit 2; }
shift

start_ms=$(date +%s%3N)
# The outer limit only keeps a broken abort path from hanging the test suite.
output=$(timeout --kill-after=5 $((max_seconds * 4 + 10)) "$@" 2>&1)
status=$?
elapsed_ms=$(($(date +%s%3N) - start_ms))
elapsed="$((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))"
echo "$output"
echo "--- exit status $status after ${elapsed} s (limit ${max_seconds} s)"

failed=0
if [[ $status -eq 0 ]]; then
  echo "FAIL: the job exited 0; it should have failed" >&2
  failed=1
fi
if [[ $elapsed_ms -gt $((max_seconds * 1000)) ]]; then
  echo "FAIL: the job took ${elapsed} s to fail; expected at most ${max_seconds} s" >&2
  failed=1
fi
for pattern in "${patterns[@]}"; do
  if ! grep -Eq -- "$pattern" <<<"$output"; then
    echo "FAIL: the output does not match /$pattern/" >&2
    failed=1
  fi
done
exit $failed
