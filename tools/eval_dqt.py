#!/usr/bin/env python3
"""Held-out loss / perplexity (and optional samples) of a dqt-family HF checkpoint, in PyTorch.

    python tools/eval_dqt.py CKPT_DIR --text heldout.txt [--seq 256] [--exact] \
        [--prompt "ROMEO." --n-new 80 --temperature 0.8 --samples 3]

The text is tokenized with CKPT_DIR/tokenizer.json as the trainer does (documents separated by
<|endoftext|> lines, EOT before every document), cut into non-overlapping windows of --seq tokens;
the loss is the mean next-token cross-entropy over all predicted tokens (nats), ppl = exp(loss).
--exact uses the reference numerics of formats/dqt.md §6 (integer dot products in float64),
otherwise the float32 training path (same math, faster).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe_tokenizer import eot_id  # noqa: E402
from dqt_torch import load_hf  # noqa: E402
from train_dqt import encode_stream  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("--text", help="held-out text file")
    ap.add_argument("--seq", type=int, default=0, help="window length (default max_position_embeddings)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--prompt", action="append", default=[], help="prompt(s) for sample generations")
    ap.add_argument("--n-new", type=int, default=80)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(args.ckpt, "tokenizer.json"))
    eot = eot_id(tok)
    model = load_hf(args.ckpt).set_exact(args.exact).eval()
    result = {"ckpt": args.ckpt, "exact": args.exact}
    if args.text:
        with open(args.text, encoding="utf-8") as f:
            stream = encode_stream(tok, f.read(), eot)
        seq = args.seq or model.config.max_position_embeddings
        n_win = (len(stream) - 1) // seq
        tot, cnt, t0 = 0.0, 0, time.time()
        with torch.no_grad():
            for i in range(0, n_win, args.batch):
                w = range(i, min(i + args.batch, n_win))
                x = torch.stack([stream[k * seq:k * seq + seq] for k in w]).long()
                y = torch.stack([stream[k * seq + 1:k * seq + seq + 1] for k in w]).long()
                lg = model(x)
                tot += float(torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), y.reshape(-1),
                                                               reduction="sum"))
                cnt += y.numel()
        result.update({"text": args.text, "seq": seq, "tokens": cnt, "loss": tot / cnt, "ppl": math.exp(tot / cnt),
                       "seconds": round(time.time() - t0, 1)})
    samples = []
    for p in args.prompt:
        ids = [eot] + tok.encode(p).ids
        g = model.generate(ids, args.n_new, temperature=0.0)
        gen = torch.Generator().manual_seed(args.seed)
        t = model.generate(ids, args.n_new, temperature=args.temperature, generator=gen)
        samples.append({"prompt": p, "greedy": p + tok.decode(g),
                        f"temperature_{args.temperature}": p + tok.decode(t)})
    if samples:
        result["samples"] = samples
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
