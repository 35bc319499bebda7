#!/usr/bin/env bash
# Crash safety of dqt-convert: kills it with SIGKILL at N random moments (default 100) while
# it writes a model, and checks the destination after every kill.
#
#   tools/kill_test_convert.sh [N]
#
# Odd rounds write over an existing valid model (OLD); even rounds write where no file
# exists. After each kill the destination must be absent (even rounds, killed before the
# rename), byte-identical to OLD (odd rounds, killed before the rename), or byte-identical
# to the complete new model NEW (killed after the rename); whatever is there must load with
# every checksum verified (dqt-convert --inspect). A killed run leaves its temporary
# .model.dqt.tmp-PID; the next run removes those of dead processes, so at most one may be
# present after a kill, and none after a final clean run.
# Kill moments are uniform over [0, 1.05 × the measured conversion time]; rounds in which
# the converter finished before its kill are counted apart, do not count toward N, and shrink
# the range by 3% (the time was measured on a busier machine). Uses the debug
# dqt-convert of ${KILL_SCRATCH:-.build} (built if needed): it is slow enough that kills
# land in every phase (reading, quantizing, writing sections, header, fsync, rename).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100}"
SCRATCH="${KILL_SCRATCH:-.build}"
tools/setup.sh
swift build --scratch-path "$SCRATCH" --product dqt-convert >&2
BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)/dqt-convert"
WORK="$(mktemp -d /tmp/dqt-kill-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
OLD_SRC=Tests/Fixtures/dqt-ternary      # the old model at the destination
# The new model: a float Llama (4 layers, hidden 256, ffn 704; 13 MB of f32 weights, made
# here with the Python standard library), converted to int8 — big enough that most kill
# moments fall while sections are being quantized and written, not during process start.
SRC="$WORK/llama-small"
mkdir -p "$SRC"
cp Tests/Fixtures/llama-f32/tokenizer.json "$SRC/"
python3 - "$SRC" <<'PY'
import array, json, random, struct, sys
d, f, L, V, H, K, hd = 256, 704, 4, 384, 4, 2, 64
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V, "hidden_size": d,
       "intermediate_size": f, "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": K,
       "head_dim": hd, "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
       "hidden_act": "silu", "tie_word_embeddings": False, "bos_token_id": 0, "eos_token_id": 0}
json.dump(cfg, open(sys.argv[1] + "/config.json", "w"))
shapes = {"model.embed_tokens.weight": [V, d], "model.norm.weight": [d], "lm_head.weight": [V, d]}
for l in range(L):
    p = f"model.layers.{l}."
    shapes.update({p + "input_layernorm.weight": [d], p + "post_attention_layernorm.weight": [d],
                   p + "self_attn.q_proj.weight": [H * hd, d], p + "self_attn.k_proj.weight": [K * hd, d],
                   p + "self_attn.v_proj.weight": [K * hd, d], p + "self_attn.o_proj.weight": [d, H * hd],
                   p + "mlp.gate_proj.weight": [f, d], p + "mlp.up_proj.weight": [f, d], p + "mlp.down_proj.weight": [d, f]})
rng = random.Random(7)
header, blobs, off = {}, [], 0
for name, shape in shapes.items():
    n = 1
    for s in shape: n *= s
    a = array.array("f", [1.0 + 0.01 * rng.random() if len(shape) == 1 else rng.gauss(0, 0.05) for _ in range(n)])
    b = a.tobytes()
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1] + "/model.safetensors", "wb") as out:
    out.write(struct.pack("<Q", len(h)) + h)
    for b in blobs: out.write(b)
PY

"$BIN" --quiet "$OLD_SRC" "$WORK/old.dqt"
# Conversion time: the median of three runs (the converter is deterministic: same bytes).
times=()
for k in 1 2 3; do
  start=$(date +%s%N)
  "$BIN" --quiet --weights int8 "$SRC" "$WORK/new$k.dqt"
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
cmp "$WORK/new1.dqt" "$WORK/new2.dqt" >&2 || exit 1
cmp "$WORK/new1.dqt" "$WORK/new3.dqt" >&2 || exit 1
mv "$WORK/new1.dqt" "$WORK/new.dqt"
ms=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
echo "conversion takes ${ms} ms (median of ${times[*]}); $N kills over [0, 1.05 × that]" >&2
cmp -s "$WORK/old.dqt" "$WORK/new.dqt" && { echo "old and new models must differ" >&2; exit 1; }

verify() {  # $1 = file: loads, every checksum verified
  local out
  out="$("$BIN" --inspect "$1" 2>&1)" || { echo "$out" >&2; return 1; }
  grep -q "checksums: all .* sections ok" <<<"$out" || { echo "$out" | tail -3 >&2; return 1; }
}

dest_dir="$WORK/dest"
mkdir -p "$dest_dir"
dest="$dest_dir/model.dqt"
fail=0 kept_old=0 got_new=0 absent=0 finished=0 max_tmp=0 kills=0 i=0
while (( kills < N && i < 5 * N )); do
  i=$((i + 1))
  over_old=$(( i % 2 ))
  rm -f "$dest"
  [ "$over_old" = 1 ] && cp "$WORK/old.dqt" "$dest"
  delay_us=$(( (RANDOM * 32768 + RANDOM) % (ms * 1050 + 1) ))
  "$BIN" --quiet --weights int8 "$SRC" "$dest" 2>/dev/null &
  pid=$!
  sleep "$(printf '%d.%06d' $((delay_us / 1000000)) $((delay_us % 1000000)))"
  kill -9 "$pid" 2>/dev/null || true
  st=0
  wait "$pid" 2>/dev/null || st=$?
  # 137 = killed by SIGKILL; anything else means it had exited (a zombie accepts the signal).
  # A run that beat its kill means conversions got faster (machine load varies): shrink the range.
  if [ "$st" = 137 ]; then kills=$((kills + 1)); else finished=$((finished + 1)); ms=$(( ms * 97 / 100 + 1 )); fi
  tmps=$(find "$dest_dir" -name '.model.dqt.tmp-*' | wc -l)
  (( tmps > max_tmp )) && max_tmp=$tmps
  what=""
  if [ ! -e "$dest" ]; then
    if [ "$over_old" = 1 ]; then what="FAIL: the old model is gone"; else absent=$((absent + 1)); fi
  elif cmp -s "$dest" "$WORK/new.dqt"; then
    got_new=$((got_new + 1))
    verify "$dest" || what="FAIL: the new model does not verify"
  elif [ "$over_old" = 1 ] && cmp -s "$dest" "$WORK/old.dqt"; then
    kept_old=$((kept_old + 1))
    verify "$dest" || what="FAIL: the old model does not verify"
  else
    what="FAIL: the destination is neither the old nor the new model ($(stat -c %s "$dest") bytes)"
  fi
  if (( tmps > 1 )); then what="${what:+$what; }FAIL: $tmps temporary files (stale ones were not removed)"; fi
  if [ -n "$what" ]; then
    fail=$((fail + 1))
    echo "round $i (kill at ${delay_us} us, over old: $over_old): $what" >&2
  fi
done
# A clean run afterwards removes what the last killed run left.
"$BIN" --quiet --weights int8 "$SRC" "$dest"
left=$(find "$dest_dir" -name '.model.dqt.tmp-*' | wc -l)
cmp -s "$dest" "$WORK/new.dqt" && verify "$dest" || { echo "FAIL: the final clean run" >&2; fail=$((fail + 1)); }
(( left == 0 )) || { echo "FAIL: $left temporary files after a clean run" >&2; fail=$((fail + 1)); }
echo "kill test: $kills kills in $i rounds, $fail failures (destination after the round: old model $kept_old," \
     "complete new model $got_new, absent $absent; $finished rounds finished before the kill; at most $max_tmp" \
     "temporary file(s) present after a kill)"
(( kills >= N )) || { echo "FAIL: only $kills kills landed" >&2; fail=$((fail + 1)); }
[ "$fail" = 0 ]
