#!/usr/bin/env bash
# Runs a command inside a memory-limited cgroup (v1), simulating a board:
#   tools/cgroup_run.sh 268435456 .build/release/dqt-run model.dqt "Hello" -n 32 --stats
# Prints the cgroup's peak usage and limit hits afterwards. Needs root and cgroup v1's
# memory controller at /sys/fs/cgroup/memory. The page cache of the mapped model counts
# toward the limit, so a model larger than the limit runs with its pages evicted and
# re-read from disk.
set -euo pipefail
limit=$1; shift
root=/sys/fs/cgroup/memory
[ -d "$root" ] || { echo "cgroup_run: no cgroup v1 memory controller at $root" >&2; exit 2; }
cg="$root/dqt-board-$$"
mkdir "$cg"
trap 'rmdir "$cg" 2>/dev/null || true' EXIT
echo "$limit" > "$cg/memory.limit_in_bytes"
echo 0 > "$cg/memory.swappiness" 2>/dev/null || true
set +e
bash -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' _ "$cg" "$@"
rc=$?
set -e
echo "cgroup: limit $(( limit / 1048576 )) MiB, peak usage $(( $(cat "$cg/memory.max_usage_in_bytes") / 1048576 )) MiB, limit hits $(cat "$cg/memory.failcnt"), exit $rc" >&2
exit $rc
