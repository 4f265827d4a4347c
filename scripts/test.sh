#!/usr/bin/env bash
# Type-checks every package, runs every package's tests (nx, one project at a time: lavapipe
# already uses every core), then prints "N passed, N failed, N skipped" as the last line.
set -uo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false REPIRL_TEST_REPORT=1
export LP_NUM_THREADS="${LP_NUM_THREADS:-8}"
nx_flags=(--output-style=stream)
[ -n "${CI:-}" ] && nx_flags+=(--skip-nx-cache)
rm -rf .reports
rc=0
npx nx run-many -t typecheck "${nx_flags[@]}" || rc=1
npx nx run-many -t test "${nx_flags[@]}" || rc=1
node scripts/test-summary.mjs || rc=1
exit $rc
