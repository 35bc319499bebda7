#!/usr/bin/env bash
# The test command of the README: the Swift test suite (unit, golden, corrupt-input
# catalogue, CLI and allocation tests), then the shell-level checks.
#
# Everything runs with TMPDIR set to a private directory that is removed at the end. The
# suite must leave nothing in it (each test removes what it makes, Tests/DQTTestSupport):
# after `swift test`, anything there besides what SwiftPM leaves with zero tests run too (lock
# files, TemporaryDirectory.* folders holding only .keep-directory) fails this script.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# Built before TMPDIR moves: the compiler keeps macro-expansion buffers for its diagnostics in
# $TMPDIR/swift-generated-sources, which are the compiler's, not the suite's.
swift build --build-tests
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/dqt-test-sh.XXXXXX")"
chmod 755 "$TMPDIR"   # a test runs dqt-run as another user (nobody) on a file inside
export TMPDIR
# On exit, also when interrupted: stop the test run first (by its pid), then remove TMPDIR, so
# no test is left running on files that are gone.
tests=""
cleanup() {
  if [ -n "$tests" ]; then kill "$tests" 2>/dev/null || true; wait "$tests" 2>/dev/null || true; fi
  rm -rf "$TMPDIR"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
swift test --skip-build --parallel & tests=$!
wait "$tests"; tests=""
left=$(find "$TMPDIR" -mindepth 1 ! -name '*.lock' ! -name 'TemporaryDirectory.*' \
  ! \( -path "$TMPDIR/TemporaryDirectory.*/.keep-directory" \) | sort)
if [ -n "$left" ]; then
  echo "the test suite left $(echo "$left" | wc -l) entries in TMPDIR:" >&2
  echo "$left" | head -20 >&2
  exit 1
fi
# DQTModel used as a library from another package, run on the sample model.
swift build --package-path tools/library-example
tools/library-example/.build/debug/Haiku formats/samples/shakespeare.dqt
# dqt-serve against the official `openai` Python client on loopback (.ci/run installs it).
if python3 -c "import openai" 2>/dev/null; then
  python3 tools/test_serve.py
elif [ "${CI:-}" = true ]; then
  echo "tools/test.sh: the openai Python package is missing (.ci/run installs it)" >&2; exit 1
else
  echo "tools/test.sh: skipping tools/test_serve.py (pip install openai to run it)" >&2
fi
# A few seconds of each fuzz target on its seed corpus (tools/fuzz.sh; long runs are manual).
if [ "${DQT_SKIP_FUZZ:-0}" != 1 ]; then tools/fuzz.sh smoke 3; fi
