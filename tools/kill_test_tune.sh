#!/usr/bin/env bash
# Crash test of dqt-tune's in-place commits: kill -9 at N random moments, and after every kill
# check that the model (after the rollback at the next open) verifies and is byte for byte the
# file a never-interrupted run had at the same commit. Runs are resumed until they complete;
# a completed run must equal the reference's final file, then the victim starts over.
#
#   tools/kill_test_tune.sh N [BIN_DIR]        (default BIN_DIR: .build/release, or $DQT_BIN)
#   env: STEPS (12), COMMIT_EVERY (1), OPTIMIZER (adamw), THREADS (2), SEQ (32),
#        STAGING_KIB (16: several journal syncs per step, one overlapping the next chunk's compute)
#
# Every third kill is not checked right away: the next run then starts with the journal of the
# interrupted period and rolls it back itself, so kills also land inside a rollback. After every
# other kill a plain dqt-run comes first and must roll back the hot journal itself.
# Prints one line per kill and a summary; exits 1 on the first inconsistency.
set -euo pipefail
N=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${2:-${DQT_BIN:-$ROOT/.build/release}}
STEPS=${STEPS:-12}
COMMIT_EVERY=${COMMIT_EVERY:-1}
OPTIMIZER=${OPTIMIZER:-adamw}
THREADS=${THREADS:-2}
SEQ=${SEQ:-32}
STAGING_KIB=${STAGING_KIB:-16}
(( STEPS % COMMIT_EVERY == 0 )) || { echo "STEPS must be a multiple of COMMIT_EVERY" >&2; exit 2; }
for b in dqt-tune dqt-convert dqt-run; do [[ -x $BIN/$b ]] || { echo "missing $BIN/$b (swift build -c release)" >&2; exit 2; }; done
WORK=$(mktemp -d /tmp/dqt-kill-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

head -c 6000 "$ROOT/tools/README.md" > "$WORK/notes.txt"
"$BIN/dqt-convert" "$ROOT/Tests/Fixtures/dqt-ternary" "$WORK/base.dqt" --quiet
ARGS=(--data "$WORK/notes.txt" --seq-len "$SEQ" --batch 2 --optimizer "$OPTIMIZER" --lr 1e-3 --seed 5
      --commit-every "$COMMIT_EVERY" --threads "$THREADS" --staging-kib "$STAGING_KIB" --quiet)
hash() { sha256sum "$1" | cut -c1-16; }
fresh() { rm -f "$1" "$1.tune" "$1.journal"; cp "$WORK/base.dqt" "$1"; }

# Reference: the file at every commit of an uninterrupted run (each run ends on a commit boundary).
fresh "$WORK/ref.dqt"
declare -a REF
REF[0]=$(hash "$WORK/ref.dqt")
start=$(date +%s.%N)
for (( s = COMMIT_EVERY, c = 1; s <= STEPS; s += COMMIT_EVERY, c++ )); do
    "$BIN/dqt-tune" "$WORK/ref.dqt" "${ARGS[@]}" --steps "$s" > /dev/null
    REF[$c]=$(hash "$WORK/ref.dqt")
done
FINAL=$(( STEPS / COMMIT_EVERY ))
# The same run in one go must give the same final file (resume = uninterrupted).
fresh "$WORK/one.dqt"
t0=$(date +%s.%N)
"$BIN/dqt-tune" "$WORK/one.dqt" "${ARGS[@]}" --steps "$STEPS" > /dev/null
t1=$(date +%s.%N)
[[ $(hash "$WORK/one.dqt") == "${REF[$FINAL]}" ]] || { echo "FAIL: an uninterrupted run differs from the step-by-step reference" >&2; exit 1; }
RUN_MS=$(python3 -c "print(max(50, int(1000 * ($t1 - $t0))))")
echo "reference: $FINAL commits, one run takes ${RUN_MS} ms; killing at uniform random moments in [0, ${RUN_MS}] ms"

fresh "$WORK/v.dqt"
kills=0 completed=0 rollbacks=0
declare -A SEEN
while (( kills < N )); do
    "$BIN/dqt-tune" "$WORK/v.dqt" "${ARGS[@]}" --steps "$STEPS" > "$WORK/out.txt" 2>&1 &
    pid=$!
    delay=$(python3 -c "import random; print(random.uniform(0, $RUN_MS / 1000))")
    sleep "$delay"
    if kill -9 "$pid" 2> /dev/null; then
        wait "$pid" 2> /dev/null || true
        kills=$((kills + 1))
        killed=1
    else
        wait "$pid" || { echo "FAIL: dqt-tune exited with an error:"; cat "$WORK/out.txt"; exit 1; } >&2
        killed=0
    fi
    had_journal=0; [[ -e $WORK/v.dqt.journal ]] && had_journal=1
    if (( killed && kills % 3 == 0 )); then
        echo "kill $kills after ${delay:0:5} s: not checked now; the next run rolls back$( (( had_journal )) && echo ' an interrupted period')"
        continue
    fi
    # Every other check starts with a plain dqt-run: it must roll back a hot journal itself
    # (formats/dqt-tune.md §7.3) and run, with no --recover first.
    if (( kills % 2 == 1 )); then
        "$BIN/dqt-run" "$WORK/v.dqt" "x" -n 1 -t 1 > "$WORK/run.txt" 2>&1 || { echo "FAIL after kill $kills: dqt-run did not start:" >&2; cat "$WORK/run.txt" >&2; exit 1; }
        [[ ! -e $WORK/v.dqt.journal ]] || { echo "FAIL after kill $kills: dqt-run left the journal" >&2; exit 1; }
    fi
    out=$("$BIN/dqt-tune" "$WORK/v.dqt" --recover) || { echo "FAIL after kill $kills: the model does not verify:" >&2; echo "$out" >&2; exit 1; }
    commit=$(echo "$out" | sed -n 's/.*checksums verify, commit \([0-9]*\).*/\1/p')
    [[ -n $commit ]] || { echo "FAIL: no commit in: $out" >&2; exit 1; }
    h=$(hash "$WORK/v.dqt")
    if [[ $h != "${REF[$commit]:-none}" ]]; then
        echo "FAIL after kill $kills: the file at commit $commit is not the reference's (a mix of two states)" >&2; exit 1
    fi
    rollbacks=$((rollbacks + had_journal))
    SEEN[$commit]=1
    if (( killed )); then
        echo "kill $kills after ${delay:0:5} s: commit $commit$( (( had_journal )) && echo ', rolled back an interrupted period') - ok"
    else
        (( commit == FINAL )) || { echo "FAIL: a completed run ended at commit $commit" >&2; exit 1; }
        completed=$((completed + 1))
        fresh "$WORK/v.dqt"
    fi
done
echo "PASS: $kills kills, $rollbacks rollbacks of an interrupted period, $completed completed runs, commits seen: ${!SEEN[*]}"
