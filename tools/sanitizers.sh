#!/usr/bin/env bash
# Runs the test suite under a sanitizer, each in its own scratch path:
#   tools/sanitizers.sh address    # swift test --sanitize=address   (whole suite)
#   tools/sanitizers.sh undefined  # UndefinedBehaviorSanitizer on the C kernels (whole suite):
#                                  # swiftc has no -sanitize=undefined on Linux ("unsupported
#                                  # option"), and Swift code traps on overflow, bounds and nil
#                                  # by itself; the C code (CDQTKernels) is where UB can hide
#   tools/sanitizers.sh thread     # the thread pool under ThreadSanitizer: ThreadPoolTests, GoldenTests
#                                  # (1 and 2 threads) and dqt-run -t 2 on a converted fixture
#   tools/sanitizers.sh all        # the three, one after the other
# Extra arguments after the sanitizer go to `swift test` (e.g. --filter DQTFormatTests).
# A sanitizer report makes the run fail (halt_on_error / exitcode), so "passed" means
# no report. Each first build takes several minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

which="${1:-all}"
shift || true

run_suite() {  # $1 = sanitizer, rest = swift test args
  local san="$1"; shift
  local scratch=".build-san-$san"
  echo "== swift test --sanitize=$san (scratch $scratch)" >&2
  # Swift Testing runs tests in parallel threads; ASan/UBSan/TSan abort on the first report.
  ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}" \
    swift test --scratch-path "$scratch" --sanitize="$san" "$@"
}

run_thread() {
  local scratch=".build-san-thread"
  # The golden tests drive the thread pool at 1 and 2 threads on every fixture.
  run_suite thread --filter "GoldenTests|ThreadPoolTests" "$@"
  # dqt-run -t 2 end to end (prompt in batches, then the token loop).
  swift build --scratch-path "$scratch" --sanitize=thread --product dqt-convert
  swift build --scratch-path "$scratch" --sanitize=thread --product dqt-run
  local bin; bin="$(swift build --scratch-path "$scratch" --sanitize=thread --show-bin-path)"
  local tmp; tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  "$bin/dqt-convert" --quiet Tests/Fixtures/dqt-ternary "$tmp/t.dqt"
  echo "== dqt-run -t 2 under ThreadSanitizer" >&2
  TSAN_OPTIONS="halt_on_error=1:exitcode=66" "$bin/dqt-run" "$tmp/t.dqt" "The" -n 40 -t 2 -b 4 --temp 0 >/dev/null
  TSAN_OPTIONS="halt_on_error=1:exitcode=66" "$bin/dqt-run" "$tmp/t.dqt" --perplexity Tests/Fixtures/dqt-ternary/config.json -t 2 -c 64 >/dev/null
  echo "dqt-run -t 2: no ThreadSanitizer report" >&2
}

run_undefined() {
  local scratch=".build-san-undefined"
  echo "== swift test with -fsanitize=undefined on the C targets (scratch $scratch)" >&2
  # -fno-sanitize-recover: the first report aborts the run (a report is a failure).
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    swift test --scratch-path "$scratch" \
      -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined -Xcc -fno-omit-frame-pointer \
      -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined "$@"
}

case "$which" in
  address) run_suite address "$@" ;;
  undefined) run_undefined "$@" ;;
  thread) run_thread "$@" ;;
  all)
    run_suite address "$@"
    run_undefined "$@"
    run_thread
    ;;
  *) echo "usage: tools/sanitizers.sh address|undefined|thread|all [swift test args]" >&2; exit 2 ;;
esac
