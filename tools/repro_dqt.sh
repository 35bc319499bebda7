#!/usr/bin/env bash
# Small-scale reproduction of Zhao et al. 2024 (Direct Quantized Training): every number in
# tools/REPRODUCTION.md comes from these commands.
#
#   tools/repro_dqt.sh prep      release binaries, tokenizer, dqt-tune's training text
#   tools/repro_dqt.sh sweep     short learning-rate sweep (DQT ternary and BitNet b1.58)
#   tools/repro_dqt.sh train     the four PyTorch runs (bitnet, dqt158, dqt8, dqt158-nearest) + dqt-tune
#   tools/repro_dqt.sh control   the four PyTorch runs again with embeddings and norms frozen (--float-lr 0):
#                                only the low-bit (or latent) linear weights learn
#   tools/repro_dqt.sh convert   8-bit model: dqt-convert plain / --weights ternary, dqt-run and PyTorch losses
#   tools/repro_dqt.sh report    results table (OUT/results.md, .json) and the loss-curve PNG
#   tools/repro_dqt.sh all       everything in that order
#
# Environment: OUT (default /tmp/repro-dqt), DATA (the prepared Shakespeare corpus, default
# /tmp/shk/data: see tools/README.md "Sample model"), LR (coded and float learning rate of every
# run; default 3e-3, the sweep's pick), STEPS (1000), EVAL_EVERY (100), PNG (where the plot goes).
# Every process runs at nice 19 with one thread, at most two at a time (the machine is shared).
# Peak RSS: /usr/bin/time -v ("Maximum resident set size") of each process.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/repro-dqt}
DATA=${DATA:-/tmp/shk/data}
BUILD=${BUILD:-$ROOT/.build-repro}
BIN=$BUILD/release
LR=${LR:-3e-3}
STEPS=${STEPS:-1000}          # × SEQ·BATCH = 2048 tokens per step
SEQ=256
BATCH=8
WARMUP=100
EVAL_EVERY=${EVAL_EVERY:-100}   # must divide STEPS (dqt-tune runs in segments of this many steps)
SEED=1234
SWEEP_STEPS=300
SWEEP_WARMUP=20
SWEEP_LRS=${SWEEP_LRS:-"1.5e-3 3e-3 6e-3"}
PNG=${PNG:-$ROOT/tools/repro_dqt.png}
PY=${PYTHON:-python3}
NICE="nice -n 19"
TIMEV="/usr/bin/time -v -o"

MODEL=(--hidden 192 --layers 4 --heads 6 --kv-heads 3 --ffn 512 --act silu --tie)
COMMON=(--train-file "$DATA/train.txt" --heldout-file "$DATA/heldout.txt" --tokenizer "$OUT/tokenizer.json"
        --seq $SEQ --batch $BATCH --data-order sequential --grad-clip 0 --optimizer adamw --weight-decay 0
        --min-lr-ratio 0.1 --seed $SEED --threads 1 --no-resume)

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# Runs the given commands (one string each) at most two at a time.
par2() {
    local running=0
    for c in "$@"; do
        if (( running == 2 )); then wait -n; running=1; fi
        bash -c "$c" &
        running=$((running + 1))
    done
    wait
}

prep() {
    log "release build of dqt-convert, dqt-run, dqt-tune"
    for p in dqt-convert dqt-run dqt-tune; do
        (cd "$ROOT" && $NICE swift build -c release --scratch-path "$BUILD" -j 1 --product $p >/dev/null)
    done
    mkdir -p "$OUT"
    if [[ ! -f $OUT/tokenizer.json ]]; then
        log "tokenizer (byte-level BPE, vocab 4096, trained on the training text)"
        (cd "$ROOT/tools" && $NICE $PY -c "
import sys
from bpe_tokenizer import train_bpe
from train_dqt import split_docs
train_bpe(split_docs(open('$DATA/train.txt', encoding='utf-8').read()), 4096).save('$OUT/tokenizer.json')")
    fi
    log "dqt-tune's training text (encodes to train_dqt.py's token stream)"
    $NICE $PY "$ROOT/tools/stream_text.py" --tokenizer "$OUT/tokenizer.json" --text "$DATA/train.txt" \
        --out "$OUT/train.stream.txt" > "$OUT/train.stream.json"
    cat "$OUT/train.stream.json"
}

# train_cmd NAME STEPS WARMUP LR EVAL_EVERY extra-flags...
train_cmd() {
    local name=$1 steps=$2 warmup=$3 lr=$4 every=$5; shift 5
    local dir=$OUT/runs/$name
    echo "mkdir -p $dir && rm -f $dir/log.jsonl $dir/state.pt && $TIMEV $dir/time.txt $NICE $PY $ROOT/tools/train_dqt.py \
${COMMON[*]} ${MODEL[*]} --out $dir --steps $steps --warmup $warmup --lr $lr --eval-every $every \
--ckpt-every $steps --log-every 10 $* > $dir/stdout.txt 2>&1"
}

sweep() {
    local cmds=()
    for lr in $SWEEP_LRS; do
        cmds+=("$(train_cmd sweep-dqt158-$lr $SWEEP_STEPS $SWEEP_WARMUP $lr $SWEEP_STEPS --mode dqt --bits 1.58)")
        cmds+=("$(train_cmd sweep-bitnet-$lr $SWEEP_STEPS $SWEEP_WARMUP $lr $SWEEP_STEPS --mode bitnet)")
    done
    log "sweep: ${#cmds[@]} runs of $SWEEP_STEPS steps"
    par2 "${cmds[@]}"
    for f in "$OUT"/runs/sweep-*/log.jsonl; do
        echo "$(basename "$(dirname "$f")") $(grep '"eval"' "$f" | tail -1)"
    done
}

# dqt-tune from the PyTorch ternary run's step-0 checkpoint, in segments of EVAL_EVERY steps;
# after each segment dqt-run scores the held-out text (the same windows as train_dqt's eval).
tune() {
    local dir=$OUT/tune
    mkdir -p "$dir"
    while [[ ! -f $OUT/init-dqt158/model.safetensors ]]; do sleep 5; done   # written by the dqt158 run at step 0
    sleep 2
    rm -f "$dir"/model.dqt* "$dir"/log.jsonl "$dir"/eval.jsonl "$dir"/time-*.txt
    $BIN/dqt-convert "$OUT/init-dqt158" "$dir/model.dqt" --embed f32 --quiet
    local s=0
    while :; do
        $TIMEV "$dir/time-eval-$s.txt" $NICE $BIN/dqt-run "$dir/model.dqt" --perplexity "$DATA/heldout.txt" -t 1 \
            > "$dir/eval-$s.txt"
        $PY - "$dir/eval-$s.txt" $s $((s * SEQ * BATCH)) >> "$dir/eval.jsonl" <<'EOF'
import json, re, sys
t = open(sys.argv[1]).read()
m = re.search(r"(\d+) tokens scored .* loss ([0-9.]+) nats/token, perplexity ([0-9.]+)", t)
print(json.dumps({"event": "eval", "step": int(sys.argv[2]), "tokens": int(sys.argv[3]), "eval_loss": float(m[2]),
                  "eval_ppl": float(m[3]), "eval_tokens": int(m[1]), "evaluator": "dqt-run"}))
EOF
        (( s >= STEPS )) && break
        s=$((s + EVAL_EVERY))
        $TIMEV "$dir/time-tune-$s.txt" $NICE $BIN/dqt-tune "$dir/model.dqt" --data "$OUT/train.stream.txt" \
            --steps $s --schedule cosine --schedule-steps $STEPS --warmup $WARMUP --min-lr-ratio 0.1 --lr $LR \
            --optimizer adamw --rounding stochastic --seq-len $SEQ --batch $BATCH --seed $SEED --threads 1 \
            --log "$dir/log.jsonl" --quiet > "$dir/tune-$s.txt"
    done
    $NICE $PY "$ROOT/tools/stream_text.py" --tokenizer "$OUT/tokenizer.json" --text "$DATA/train.txt" \
        --check-tune "$dir/model.dqt.tune" > "$dir/same_tokens.json"
    cat "$dir/same_tokens.json"
}

train() {
    rm -rf "$OUT/init-dqt158"
    log "train: dqt158 and dqt-tune (from dqt158's step 0), then bitnet, dqt8, dqt158-nearest; $STEPS steps, lr $LR"
    par2 "$(train_cmd dqt158 $STEPS $WARMUP $LR $EVAL_EVERY --mode dqt --bits 1.58 --export-init $OUT/init-dqt158)" \
         "$0 tune > $OUT/tune.out 2>&1" \
         "$(train_cmd bitnet $STEPS $WARMUP $LR $EVAL_EVERY --mode bitnet)" \
         "$(train_cmd dqt8 $STEPS $WARMUP $LR $EVAL_EVERY --mode dqt --bits 8)" \
         "$(train_cmd dqt158-nearest $STEPS $WARMUP $LR $EVAL_EVERY --mode dqt --bits 1.58 --rounding nearest)"
}

# With embeddings and norms trained in float32, a model whose linears never change (the
# round-to-nearest ablation: no code ever moves) still learns; this isolates the linears.
control() {
    log "control: bitnet, dqt158, dqt8, dqt158-nearest with --float-lr 0; $STEPS steps, lr $LR"
    par2 "$(train_cmd frozen-bitnet $STEPS $WARMUP $LR $EVAL_EVERY --mode bitnet --float-lr 0)" \
         "$(train_cmd frozen-dqt158 $STEPS $WARMUP $LR $EVAL_EVERY --mode dqt --bits 1.58 --float-lr 0)" \
         "$(train_cmd frozen-dqt8 $STEPS $WARMUP $LR $EVAL_EVERY --mode dqt --bits 8 --float-lr 0)" \
         "$(train_cmd frozen-dqt158-nearest $STEPS $WARMUP $LR $EVAL_EVERY --mode dqt --bits 1.58 --rounding nearest --float-lr 0)"
}

convert() {
    local dir=$OUT/convert hf=$OUT/runs/dqt8/hf
    mkdir -p "$dir"
    $BIN/dqt-convert "$hf" "$dir/dqt8-int8.dqt" --quiet
    $BIN/dqt-convert "$hf" "$dir/dqt8-ternary.dqt" --weights ternary --quiet
    $BIN/dqt-convert "$OUT/runs/dqt158/hf" "$dir/dqt158.dqt" --quiet
    $BIN/dqt-convert "$OUT/runs/bitnet/hf" "$dir/bitnet.dqt" --quiet
    local cmds=()
    for m in dqt8-int8 dqt8-ternary dqt158 bitnet; do
        cmds+=("$TIMEV $dir/time-$m.txt $NICE $BIN/dqt-run $dir/$m.dqt --perplexity $DATA/heldout.txt -t 1 > $dir/dqt-run-$m.txt")
    done
    for r in dqt8 dqt158 bitnet; do
        cmds+=("$NICE $PY $ROOT/tools/eval_dqt.py $OUT/runs/$r/hf --text $DATA/heldout.txt --seq $SEQ --exact --threads 1 > $dir/torch-exact-$r.json")
    done
    par2 "${cmds[@]}"
    $BIN/dqt-convert --inspect "$dir/dqt8-ternary.dqt" > "$dir/dqt8-ternary.inspect.txt"
    $BIN/dqt-convert --inspect "$dir/dqt8-int8.dqt" > "$dir/dqt8-int8.inspect.txt"
    grep -h "perplexity" "$dir"/dqt-run-*.txt
}

report() {
    $PY "$ROOT/tools/repro_table.py" "$OUT" > "$OUT/results.md"
    cat "$OUT/results.md"
    $PY "$ROOT/tools/plot_log.py" -o "$PNG" --title "DQT reproduction: $STEPS steps x $((SEQ * BATCH)) tokens, Shakespeare" \
        "$OUT/runs/bitnet/log.jsonl" "$OUT/runs/dqt158/log.jsonl" "$OUT/runs/dqt8/log.jsonl" \
        "$OUT/runs/dqt158-nearest/log.jsonl" "dqt-tune=$OUT/tune/log.jsonl,$OUT/tune/eval.jsonl"
    if [[ -f $OUT/runs/frozen-dqt158/log.jsonl ]]; then
        $PY "$ROOT/tools/plot_log.py" -o "${PNG%.png}_frozen.png" \
            --title "Control: embeddings and norms frozen, only linear weights learn ($STEPS steps)" \
            "$OUT/runs/frozen-bitnet/log.jsonl" "$OUT/runs/frozen-dqt158/log.jsonl" "$OUT/runs/frozen-dqt8/log.jsonl" \
            "$OUT/runs/frozen-dqt158-nearest/log.jsonl"
    fi
}

case ${1:-} in
    prep) prep ;;
    sweep) sweep ;;
    train) train ;;
    tune) tune ;;
    control) control ;;
    convert) convert ;;
    report) report ;;
    all) prep; sweep; train; control; convert; report ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
esac
