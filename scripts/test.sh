#!/usr/bin/env bash
# The whole test suite: what `npm test` and CI run. Installs what the tests
# need from Debian if it is missing, compiles, runs every test file with tap,
# and ends with a plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-deps.sh

npx tsc -p tsconfig.json
# The auditor's console, which test/console.test.ts opens in a real browser.
node scripts/build-console.mjs

log=$(mktemp)
slow=$(mktemp)
trap 'rm -f "$log" "$slow"' EXIT
set +e
# The main part: two test files at a time.
npx tap --disable-coverage --timeout 300 --jobs 2 dist/test/*.test.js 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# The slow part: load tests that measure latency, one at a time with the
# machine to themselves (bounded in time and count; loopback only).
npx tap --disable-coverage --timeout 300 --jobs 1 dist/test/slow/*.test.js 2>&1 | tee "$slow"
slow_rc=${PIPESTATUS[0]}
set -e
# Numbers from each run's final "# { total: N, pass: P, fail: F }" line (absent keys count 0).
count() {
  local line
  line=$(grep -E '^# \{ total: [0-9]+' "$2" | tail -1 || true)
  local n
  n=$(sed -nE "s/.*$1: ([0-9]+).*/\1/p" <<<"$line")
  echo "${n:-0}"
}
pass=$(( $(count pass "$log") + $(count pass "$slow") ))
fail=$(( $(count fail "$log") + $(count fail "$slow") ))
echo "${pass} passed, ${fail} failed"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
exit "$slow_rc"
