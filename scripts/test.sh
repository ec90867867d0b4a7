#!/usr/bin/env bash
# The whole test suite: what `npm test` and CI run. Installs what the tests
# need from Debian if it is missing, compiles, runs every test file with tap,
# and ends with a plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-deps.sh

npx tsc -p tsconfig.json

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
npx tap --disable-coverage --timeout 300 --jobs 2 dist/test/*.test.js 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^# \{ total: [0-9]+' "$log" | tail -1 || true)
pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
echo "${pass:-0} passed, ${fail:-0} failed"
exit "$rc"
