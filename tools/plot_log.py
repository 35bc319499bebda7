#!/usr/bin/env python3
"""Loss curves from train_dqt.py log.jsonl files (one or more runs) into a PNG.

    python tools/plot_log.py runs/a/log.jsonl [runs/b/log.jsonl ...] -o curves.png
Train loss (mean over each logging interval) and held-out loss against tokens seen.
"""

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    train, held = [], []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("event") == "train":
                train.append((r["tokens"], r["loss"]))
            elif r.get("event") == "eval":
                held.append((r["tokens"], r["eval_loss"]))
    return train, held


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+")
    ap.add_argument("-o", "--out", default="loss_curves.png")
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(8, 5))
    for p in args.logs:
        name = os.path.basename(os.path.dirname(os.path.abspath(p)))
        train, held = read(p)
        if train:
            ax.plot([t / 1e6 for t, _ in train], [v for _, v in train], alpha=0.5, label=f"{name} train")
        if held:
            ax.plot([t / 1e6 for t, _ in held], [v for _, v in held], "o-", label=f"{name} held-out")
    ax.set_xlabel("tokens seen (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
