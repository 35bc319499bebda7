#!/usr/bin/env python3
"""Re-derive every committed golden from its checkpoint and compare (regression check of the tools).

    python tools/check_fixtures.py [--dir Tests/Fixtures]

dqt-*     : dqt_torch.load_hf + exact path must reproduce logits bit-for-bit and the greedy ids;
            every linear must lie on its grid (value / scale is an integer in [qmin, qmax]).
hf-bitnet : transformers BitNetForCausalLM must reproduce logits bit-for-bit; our reading of the
            packed weights (dqt_torch) must agree within float rounding noise and give the same greedy ids.
llama-f32 : transformers must reproduce logits/greedy; dqt_torch ternary/int8 goldens must reproduce.
Also checks sizes (each fixture <= 1.1 MB) and tensor names. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
from dqt_torch import load_hf  # noqa: E402

failures = []


def check(cond: bool, msg: str):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def size_of(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(mf.REPO, "Tests", "Fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in ("dqt-ternary", "dqt-int8", "hf-bitnet", "llama-f32"):
        d = os.path.join(args.dir, name)
        if not os.path.isdir(d):
            check(False, f"{name}: missing")
            continue
        g = load_file(os.path.join(d, "golden.safetensors"))
        ids = g["input_ids"].tolist()
        check(len(ids) == 64 and g["greedy"].numel() == 32, f"{name}: golden shapes")
        check(size_of(d) <= 1_100_000, f"{name}: size {size_of(d)} bytes")
        if name.startswith("dqt-"):
            m = load_hf(d)
            with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
                scales = {k: float.fromhex(v) for k, v in json.loads(f.metadata()["dqt_scales"]).items()}
                for n, q in m.qlinears():
                    w = f.get_tensor(n + ".weight")
                    c = w / scales[n + ".weight"]
                    on_grid = torch.equal(c, c.round()) and c.min() >= q.qmin and c.max() <= q.qmax
                    check(on_grid, f"{name}: {n}.weight on grid [{q.qmin},{q.qmax}]")
            fn = mf.dqt_logits_fn(m)
            check(torch.equal(fn(ids), g["logits"]), f"{name}: logits reproduce bit-exactly")
            gr, _ = mf.greedy_with_margin(fn, ids, 32)
            check(gr == g["greedy"].tolist(), f"{name}: greedy reproduces")
        elif name == "hf-bitnet":
            hf = mf.load_transformers_bitnet(d)
            fn = mf.hf_logits_fn(hf)
            check(torch.equal(fn(ids), g["logits"]), f"{name}: transformers logits reproduce bit-exactly")
            gr, _ = mf.greedy_with_margin(fn, ids, 32)
            check(gr == g["greedy"].tolist(), f"{name}: transformers greedy reproduces")
            ours = mf.dqt_from_hf_bitnet(d)
            cmp = mf.compare_models(ours, hf, ids)
            check(cmp["per_linear_same_input_max_diff_over_max_abs_output"] < 1e-6,
                  f"{name}: per-linear semantics match ({cmp['per_linear_same_input_max_diff_over_max_abs_output']:.2e})")
            check(cmp["per_layer_same_input_max_abs_diff"] < 1e-5,
                  f"{name}: per-layer semantics match ({cmp['per_layer_same_input_max_abs_diff']:.2e})")
            og, _ = mf.greedy_with_margin(mf.dqt_logits_fn(ours), ids, 32)
            check(og == g["greedy"].tolist(), f"{name}: dqt_torch greedy equals transformers greedy")
        else:
            from transformers import LlamaForCausalLM
            hf = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
            fn = mf.hf_logits_fn(hf)
            check(torch.equal(fn(ids), g["logits"]), f"{name}: transformers logits reproduce bit-exactly")
            for how, key in (("ternary", "ternary"), ("int8_absmax", "int8_absmax")):
                m = mf.dqt_from_llama(d, how)
                f2 = mf.dqt_logits_fn(m)
                check(torch.equal(f2(ids), g["logits_" + key]), f"{name}: {key} logits reproduce")
                gr, _ = mf.greedy_with_margin(f2, ids, 32)
                check(gr == g["greedy_" + key].tolist(), f"{name}: {key} greedy reproduces")
    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
