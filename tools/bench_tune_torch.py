#!/usr/bin/env python3
"""The PyTorch side of tools/bench_tune.sh: the same DQT training step as dqt-tune, on CPU.

One step = forward with fake-quantized int8 activations (tools/dqt_torch.py QLinear, float32),
mean next-token cross-entropy, autograd backward, then tools/dqt_optim.py DQTOptimizer: the AdamW
direction and stochastic rounding of the int8 codes (float tensors: torch AdamW) — what
tools/train_dqt.py runs per step, without its data pipeline. Tokens are random ids (the cost of
a step does not depend on them).

    python tools/bench_tune_torch.py CKPT_DIR --seq 256 --batch 1 --steps 4 --threads 1

Prints one JSON line: steps timed (the first step is a warm-up and not timed), seconds per step
(wall and process CPU), tokens/s, the losses, and the peak RSS of the step loop (VmHWM reset
after loading).
"""

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from dqt_optim import DQTOptimizer  # noqa: E402
from dqt_torch import load_hf  # noqa: E402
from train_dqt import peak_rss_mib, reset_peak_rss  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="HF checkpoint directory (tools/make_random_checkpoint.py)")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd", "momentum"])
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = load_hf(a.checkpoint)
    model.train()
    V = model.config.vocab_size
    opt = DQTOptimizer(model, kind=a.optimizer, rounding="stochastic", seed=a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    reset_peak_rss()
    losses, walls, cpus = [], [], []
    for step in range(a.steps + 1):
        ids = torch.randint(0, V, (a.batch, a.seq + 1), generator=gen)
        x, y = ids[:, :-1], ids[:, 1:]
        w0, c0 = time.perf_counter(), cpu_seconds()
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        opt.step(a.lr)
        w1, c1 = time.perf_counter(), cpu_seconds()
        losses.append(float(loss))
        if step > 0:
            walls.append(w1 - w0)
            cpus.append(c1 - c0)
    tokens = a.batch * a.seq
    wall = sum(walls) / len(walls)
    cpu = sum(cpus) / len(cpus)
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "threads": a.threads, "seq": a.seq, "batch": a.batch,
                      "steps_timed": len(walls), "s_per_step": wall, "cpu_s_per_step": cpu,
                      "tok_per_s": tokens / wall, "tok_per_cpu_s": tokens / cpu, "losses": losses,
                      "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main()
