#!/usr/bin/env bash
# The test command of the README: the Swift test suite (unit, golden, corrupt-input
# catalogue, CLI and allocation tests), then the shell-level checks.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
swift build --build-tests
swift test --skip-build --parallel
