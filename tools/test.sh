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
