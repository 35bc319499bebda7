#!/bin/sh
# Checks dqt-run's two memory promises on a model:
#   1. the token loop allocates nothing: tools/alloc_counter.c preloaded, --stats must say
#      "allocations in token loop: 0";
#   2. peak RSS <= model pages touched + decoded LZ4 sections + KV cache + 16 MiB
#      (--stats "memory:" line: "other" is the rest of the peak RSS, and must be <= 16 MiB).
#
#   tools/check_memory.sh MODEL.dqt [TOKENS] [THREADS]
# DQT_RUN selects the binary (default: .build-bench-release/release/dqt-run, else .build/release).
# Exit status 0 if both hold, 1 otherwise.
set -eu
model=${1:?usage: tools/check_memory.sh MODEL.dqt [TOKENS] [THREADS]}
tokens=${2:-64}
threads=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
run=${DQT_RUN:-}
if [ -z "$run" ]; then
    for c in "$root/.build-bench-release/release/dqt-run" "$root/.build/release/dqt-run"; do
        if [ -x "$c" ]; then run=$c; break; fi
    done
fi
[ -n "$run" ] && [ -x "$run" ] || { echo "check_memory: no dqt-run binary (set DQT_RUN)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -shared -fPIC -O2 -o "$tmp/alloc_counter.so" "$root/tools/alloc_counter.c"
LD_PRELOAD="$tmp/alloc_counter.so" "$run" "$model" --tokens 1,2,3,4,5,6,7,8 -n "$tokens" --temp 0 \
    --ignore-eos -t "$threads" --stats >/dev/null 2>"$tmp/stats"
cat "$tmp/stats"
awk -v want="$tokens" '
    /^generation:/ { gen = $2 }
    /^allocations in token loop:/ { alloc = $5; seen_alloc = 1 }
    /^memory:/ { for (i = 1; i <= NF; i++) if ($i == "other") { other = $(i + 1); seen_mem = 1 } }
    END {
        ok = 1
        if (gen != want) { print "FAIL: generated " gen " tokens, expected " want; ok = 0 }
        if (!seen_alloc) { print "FAIL: no allocation count (is the interposer loaded?)"; ok = 0 }
        else if (alloc != 0) { print "FAIL: " alloc " allocations in the token loop"; ok = 0 }
        else print "ok: 0 allocations in the token loop (" gen " tokens)"
        if (!seen_mem) { print "FAIL: no memory line (needs /proc/self/smaps)"; ok = 0 }
        else if (other + 0 > 16.0) { print "FAIL: peak RSS exceeds touched model pages + arena + KV cache by " other " MiB (> 16)"; ok = 0 }
        else print "ok: peak RSS within touched model pages + arena + KV cache + " other " MiB (<= 16)"
        exit ok ? 0 : 1
    }' "$tmp/stats"
