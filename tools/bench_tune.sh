#!/bin/sh
# dqt-tune vs PyTorch on the same DQT training step (160M BitNet shape and the 2.4M reproduction
# model by default; 700m and 2b4t on request); see tools/bench_tune.py for what it measures.
#   tools/bench_tune.sh [--models 160m,repro] [--threads 1,2] [--rounds 3] [--steps 3] [--nice -10]
#                       [--work ~/.cache/dqt-bench-tune] [--out report.md]
# Needs: swift, cc, python3 with torch, safetensors, numpy (tools/requirements.txt), /usr/bin/time.
exec python3 "$(dirname "$0")/bench_tune.py" "$@"
