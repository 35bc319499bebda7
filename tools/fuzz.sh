#!/usr/bin/env bash
# libFuzzer targets for dqt's parsers (tools/fuzz/, a package that depends on this one by path).
#
#   tools/fuzz.sh build                   build tools/fuzz/ with -sanitize=fuzzer,address (release)
#   tools/fuzz.sh TARGET [runs] [args]    fuzz one target for `runs` executions (default 1000000)
#   tools/fuzz.sh all [runs]              every target, one after the other
#   tools/fuzz.sh smoke [seconds]         every target for a few seconds each (default 5): for CI
#   tools/fuzz.sh seeds                   rewrite the seed corpus tools/fuzz/corpus/ (committed)
#
# Targets: dqt safetensors gguf tokenizer-json tokenizer-model tokenizer-payload lz4
# The committed seeds in tools/fuzz/corpus/TARGET (and regressions/TARGET) are read, never written; new inputs go to
# $FUZZ_SCRATCH/corpus/TARGET and crashes to $FUZZ_SCRATCH/artifacts/ (FUZZ_SCRATCH defaults
# to .build-fuzz). A crash, a leak-free ASan report, a timeout (10 s per input) or an input
# that needs more than 2 GiB ends the run with a non-zero status and the reproducer path.
# Reproduce: DQT_FUZZ_TARGET=dqt $FUZZ_SCRATCH/release/dqt-fuzz CRASH_FILE
# Once fixed, copy the crasher to tools/fuzz/regressions/TARGET/ and give it a line in
# tools/fuzz/regressions/expected.tsv: the test suite replays every regression and checks its
# outcome (Tests/*/FuzzRegressionTests.swift); libFuzzer reads them as extra seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${FUZZ_SCRATCH:-.build-fuzz}"
TARGETS="dqt safetensors gguf tokenizer-json tokenizer-model tokenizer-payload lz4"
BIN="$SCRATCH/release/dqt-fuzz"

build() {
  tools/setup.sh
  # Scratch path is relative to the repository root; --package-path makes it Fuzz's build.
  swift build --package-path tools/fuzz --scratch-path "$PWD/$SCRATCH" -c release \
    --sanitize=fuzzer --sanitize=address --product dqt-fuzz >&2
}

run_target() {  # $1 target, $2 libFuzzer option (-runs=N or -max_total_time=S), rest extra args
  local t="$1" limit="$2"; shift 2
  [ -d "tools/fuzz/corpus/$t" ] || { echo "unknown target $t (one of: $TARGETS)" >&2; exit 2; }
  mkdir -p "$SCRATCH/corpus/$t" "$SCRATCH/artifacts"
  local log="$SCRATCH/fuzz-$t.log"
  echo "== $t ($limit)" >&2
  local status=0
  # Leak detection is on (DQT_FUZZ_LEAKS=0 turns it off): a failed .dqt load once leaked its
  # LZ4 arena, and FoundationEssentials' FileManager.contents(atPath:) leaks 4 KiB on an empty
  # file (the tokenizer importers read with POSIX calls since). SWIFT_BACKTRACE=enable=no:
  # the Swift backtracer's helper thread trips ASan after a trap (a false "negative-size-param");
  # libFuzzer prints the symbolized stack of a trap itself.
  # Seeds: the committed corpus and the regressions (read only; new inputs go to the first folder).
  local seeds=("tools/fuzz/corpus/$t")
  [ -d "tools/fuzz/regressions/$t" ] && seeds+=("tools/fuzz/regressions/$t")
  # The importers' files go to a scratch folder in memory, removed after the run whatever the
  # fuzzer's exit (libFuzzer can end without running exit handlers).
  local shm=/dev/shm; [ -w "$shm" ] || shm="${TMPDIR:-/tmp}"
  local tmp; tmp="$(mktemp -d "$shm/dqt-fuzz.XXXXXX")"
  DQT_FUZZ_SCRATCH_DIR="$tmp" \
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="detect_leaks=${DQT_FUZZ_LEAKS:-1}:allocator_may_return_null=1" DQT_FUZZ_TARGET="$t" "$BIN" \
    "$SCRATCH/corpus/$t" "${seeds[@]}" "$limit" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$SCRATCH/artifacts/$t-" "$@" >"$log" 2>&1 || status=$?
  rm -rf "$tmp"
  # The closing statistics: executions and time.
  grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)" "$log" | sed "s/^/  $t: /" >&2 || true
  if [ "$status" != 0 ]; then
    echo "  $t: FAILED (exit $status); see $log" >&2
    grep -E "ERROR|invariant|Fatal error|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
    return 1
  fi
}

cmd="${1:-}"
case "$cmd" in
  build) build ;;
  seeds)
    build
    python3 tools/fuzz/make_json_seeds.py
    DQT_FUZZ_MAKE_SEEDS="$PWD/tools/fuzz/corpus" "$BIN"
    ;;
  smoke)
    secs="${2:-5}"
    build   # incremental: a stale binary would fuzz old code
    fail=0
    for t in $TARGETS; do run_target "$t" "-max_total_time=$secs" || fail=1; done
    [ "$fail" = 0 ] && echo "fuzz smoke: $(echo $TARGETS | wc -w) targets, ${secs}s each, no crash" >&2
    exit "$fail"
    ;;
  all)
    runs="${2:-1000000}"
    build   # incremental: a stale binary would fuzz old code
    fail=0
    for t in $TARGETS; do run_target "$t" "-runs=$runs" || fail=1; done
    exit "$fail"
    ;;
  ""|-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
  *)
    runs="${2:-1000000}"
    [ $# -ge 2 ] && shift 2 || shift 1
    build   # incremental: a stale binary would fuzz old code
    run_target "$cmd" "-runs=$runs" "$@"
    ;;
esac
