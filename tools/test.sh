#!/usr/bin/env bash
# The test command of the README: the Swift test suite (unit, golden, corrupt-input
# catalogue, CLI and allocation tests), then the shell-level checks.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
swift build --build-tests
swift test --skip-build --parallel
# DQTModel used as a library from another package, run on the sample model.
swift build --package-path tools/library-example
tools/library-example/.build/debug/Haiku formats/samples/shakespeare.dqt
# A few seconds of each fuzz target on its seed corpus (tools/fuzz.sh; long runs are manual).
if [ "${DQT_SKIP_FUZZ:-0}" != 1 ]; then tools/fuzz.sh smoke 3; fi
