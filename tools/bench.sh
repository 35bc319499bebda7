#!/bin/sh
# dqt vs llama.cpp (TQ2_0, TQ1_0) on a 700M BitNet-shaped model; see tools/bench.py.
#   tools/bench.sh [--rounds 3] [--threads 1,2] [--work ~/.cache/dqt-bench] [--out report.md] [--isa avx2]
# Needs: swift, cmake, cc, python3 with torch, safetensors, sentencepiece, numpy (llama.cpp's converter).
exec python3 "$(dirname "$0")/bench.py" "$@"
