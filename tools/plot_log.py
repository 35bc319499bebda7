#!/usr/bin/env python3
"""Loss curves from train_dqt.py / dqt-tune --log JSONL files (one or more runs) into a PNG.

    python tools/plot_log.py runs/a/log.jsonl [runs/b/log.jsonl ...] -o curves.png
    python tools/plot_log.py runs/a/log.jsonl "dqt-tune=tune/log.jsonl,tune/eval.jsonl" -o curves.png --title T

A run is `PATH` (named after its directory) or `NAME=PATH[,PATH...]` (several files merged, e.g.
dqt-tune's per-step log and its held-out evaluations by dqt-run). Left: training loss, as the mean
over bins of --bin steps (train_dqt.py logs that mean every 10 steps; dqt-tune logs every step, so
both are shown on the same footing); right: held-out loss. Both against tokens seen.
"""

import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(paths, bin_steps):
    """Returns (train, held): train = [(tokens, mean loss of the bin)], held = [(tokens, loss)]."""
    train_steps, held = [], []
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("event") == "train" and r.get("loss") is not None:
                    train_steps.append((r["step"], r["tokens"], r["loss"]))
                elif r.get("event") == "eval" and r.get("evaluator") != "dqt-tune":
                    held.append((r["tokens"], r["eval_loss"]))
    # train_dqt.py's record at step k (k a multiple of 10) is the mean over steps k-9..k; put a
    # per-step log into the same bins (bin of step s = ceil(s / bin) * bin), weighted by steps.
    bins = {}
    prev_step = 0
    for step, tokens, loss in sorted(train_steps):
        n = step - prev_step if step - prev_step <= bin_steps else 1
        key = math.ceil(step / bin_steps) * bin_steps
        b = bins.setdefault(key, [0.0, 0, 0])
        b[0] += loss * n
        b[1] += n
        b[2] = max(b[2], tokens)
        prev_step = step
    train = [(b[2], b[0] / b[1]) for _, b in sorted(bins.items())]
    return train, sorted(set(held))


def parse_run(spec):
    if "=" in spec:
        name, paths = spec.split("=", 1)
        return name, paths.split(",")
    return os.path.basename(os.path.dirname(os.path.abspath(spec))), [spec]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", help="PATH or NAME=PATH[,PATH...]")
    ap.add_argument("-o", "--out", default="loss_curves.png")
    ap.add_argument("--bin", type=int, default=10, help="steps per training-loss point")
    ap.add_argument("--title", default=None)
    ap.add_argument("--ymax", type=float, default=None, help="upper limit of the loss axes")
    args = ap.parse_args()
    fig, (ax_t, ax_h) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, spec in enumerate(args.logs):
        name, paths = parse_run(spec)
        train, held = read(paths, args.bin)
        c = colors[i % len(colors)]
        dashed = name.startswith("dqt-tune")
        if train:
            ax_t.plot([t / 1e6 for t, _ in train], [v for _, v in train], color=c, lw=1.0,
                      ls="--" if dashed else "-", alpha=0.85, label=name)
        if held:
            ax_h.plot([t / 1e6 for t, _ in held], [v for _, v in held], "o" + ("--" if dashed else "-"),
                      color=c, ms=3.5, lw=1.2, label=name)
    for ax, what in ((ax_t, f"training loss (mean of {args.bin} steps)"), (ax_h, "held-out loss")):
        ax.set_xlabel("tokens seen (millions)")
        ax.set_title(what, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_t.set_ylabel("cross-entropy (nats/token)")
    if args.ymax:
        ax_t.set_ylim(top=args.ymax)
    if args.title:
        fig.suptitle(args.title, fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
