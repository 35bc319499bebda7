#!/usr/bin/env python3
"""Compare the tensors of two safetensors files (bit-exact); exit 1 if any differs.

    python tools/compare_ckpt.py A/model.safetensors B/model.safetensors
(File hashes are not comparable: safetensors may serialize the metadata map in any order.)
"""
import sys

import torch
from safetensors import safe_open


def main():
    a, b = (safe_open(p, "pt") for p in sys.argv[1:3])
    ka, kb = set(a.keys()), set(b.keys())
    bad = sorted(ka ^ kb)
    for k in sorted(ka & kb):
        x, y = a.get_tensor(k), b.get_tensor(k)
        if x.shape != y.shape or not torch.equal(x, y):
            bad.append(k)
    print(f"{len(ka & kb)} common tensors, {len(bad)} differ" + (f": {bad[:10]}" if bad else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
