#!/usr/bin/env python3
"""Golden gradients and updates for dqt-tune's tests (Tests/DQTTrainTests/Goldens/).

    python tools/make_grad_goldens.py [--dqt-convert PATH] [--only NAME ...]

For each fixture variant, the fixture checkpoint is converted with dqt-convert (the Swift
converter, so the reference sees exactly the weights the tuner sees), read back with
tools/dqt_file.py into tools/dqt_torch.py's DQTForCausalLM, and one step of next-token
cross-entropy is differentiated by PyTorch autograd:

  grad-<variant>.safetensors   input_ids int32 [B, T+1], loss f32 [1],
                               grad.<tensor> f32 (shape of the tensor) for every tensor:
                               dL/d(value) for float tensors and dL/d(code·scale) for grid ones.
  step-dqt-ternary.safetensors after.<tensor>: the tensor after one AdamW step with
                               round-to-nearest (tools/dqt_optim.py DQTOptimizer, lr 0.01):
                               int8 codes for grid tensors, f32 values for float tensors.
  update.safetensors           synthetic update test: codes, scale and 3 steps of gradients for
                               ternary / 8-bit / 3-bit tensors, and the codes DQTOptimizer
                               (rounding="nearest") writes after each step for sgd, momentum and
                               adamw, with and without weight decay.

Forward values follow the runtime (formats/dqt.md §6): each QLinear output is
float32(Σ c·q) · float32(s/α), exactly as the integer kernels compute it; gradients are autograd's
for dqt_torch's training expression (activation quantizer with a straight-through estimator,
F.linear on the effective weight s·c). An ulp of difference upstream of an activation quantizer
can move one int8 activation (a legitimate disagreement between two correct implementations,
tools/README.md "Rounding noise"), so among 64 candidate token windows the one whose quantizer
inputs lie farthest from a rounding boundary is used; its margin is recorded (metadata
min_margin, in units of one int8 step).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import dqt_torch  # noqa: E402
from dqt_file import DqtFile  # noqa: E402
from dqt_optim import DQTOptimizer  # noqa: E402
from dqt_torch import DQTConfig, DQTForCausalLM, QLinear, act_quant_int, act_quant_ste  # noqa: E402

OUT = os.path.join(REPO, "Tests", "DQTTrainTests", "Goldens")
B, T = 2, 16
CANDIDATES = 64

VARIANTS = {
    # name: (fixture, dqt-convert options, what it covers)
    "dqt-ternary": ("dqt-ternary", [], "t2, f16 untied embed/head, SiLU, sub-norms, GQA 4/2"),
    "dqt-int8": ("dqt-int8", ["--embed", "int8"], "i8 8-bit, i8r tied head (quantized head input), relu2, sub-norms"),
    "hf-bitnet": ("hf-bitnet", ["--embed", "f32"], "t2, f32 tied head, relu2, RoPE 500000, 3 layers, GQA"),
    "llama-int8": ("llama-f32", ["--weights", "int8"], "i8 absmax, f16 untied, no sub-norms"),
    # dqt-ternary re-encoded with float linears (no activation quantization) and a bf16 embedding;
    # the test writes the same payloads with ModelWriter (FLOAT_LINEARS below) and checks the checksums.
    "float-linears": ("dqt-ternary", [], "f32/f16/bf16 linears, bf16 embedding, f32 head"),
}
FLOAT_LINEARS = {"q_proj": "f32", "k_proj": "f32", "v_proj": "f32", "o_proj": "f16", "gate_proj": "bf16", "up_proj": "bf16",
                 "down_proj": "f32", "embed": "bf16", "output": "f32"}

# MARK: - the runtime's values with autograd's gradients

MARGINS: list[float] = []


def _record_margin(x: torch.Tensor):
    with torch.no_grad():
        x = x.float()
        alpha = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=dqt_torch.ACT_EPS)
        z = x * alpha
        inside = z.abs() < 127.5
        d = (z - torch.floor(z) - 0.5).abs()
        if inside.any():
            MARGINS.append(float(d[inside].min()))


def qlinear_forward(self: QLinear, x: torch.Tensor) -> torch.Tensor:
    _record_margin(x)
    xq = act_quant_ste(x)
    w = self.codes.float() * self.scale
    if torch.is_grad_enabled():
        w.requires_grad_(True)
        self.w_eff = w
    y = F.linear(xq, w)
    with torch.no_grad():
        v_hat, alpha = act_quant_int(x)
        acc = F.linear(v_hat.double(), self.codes.double()).float()   # exact integer sums
        y_rt = acc * (self.scale.float() / alpha)                     # float32(Σ)·float32(s/α)
    return y_rt + (y - y.detach())


QLinear.forward = qlinear_forward


def model_forward(self: DQTForCausalLM, input_ids: torch.Tensor, positions=None) -> torch.Tensor:
    Bn, Tn = input_ids.shape
    if positions is None:
        positions = torch.arange(Tn)
    cos, sin = dqt_torch.rope_cos_sin(self.config.head_dim, self.config.rope_theta, positions)
    x = self.model.embed_tokens(input_ids).float()
    for layer in self.model.layers:
        x = layer(x, cos, sin)
    x = self.model.norm(x)
    W = self.head_weight()
    head = getattr(self, "head_i8r", None)
    if head is None:
        return F.linear(x, W)
    # i8r head (§6): quantized like a QLinear with the row's scale in place of the tensor scale.
    codes, rowscale = head
    _record_margin(x)
    y = F.linear(act_quant_ste(x), W)
    with torch.no_grad():
        v_hat, alpha = act_quant_int(x)
        acc = F.linear(v_hat.double(), codes.double()).float()
        y_rt = acc * (rowscale * (1.0 / alpha))                        # Σ·(rowscale·(1/α))
    return y_rt + (y - y.detach())


DQTForCausalLM.forward = model_forward


# MARK: - model from a .dqt file


def _parent_of(model, module):
    for name, m in model.named_modules():
        if m is module:
            parent, _, attr = name.rpartition(".")
            return parent, attr
    raise KeyError("module not in model")


def tensor_map(model: DQTForCausalLM) -> dict:
    """dqt tensor name -> (module or parameter)."""
    m = {"embed": model.model.embed_tokens.weight, "final_norm": model.model.norm.weight}
    if model.lm_head is not None:
        m["output"] = model.lm_head.weight
    for l, layer in enumerate(model.model.layers):
        p = f"layers.{l}."
        a, f = layer.self_attn, layer.mlp
        m[p + "attn_norm"] = layer.input_layernorm.weight
        m[p + "q_proj"], m[p + "k_proj"], m[p + "v_proj"], m[p + "o_proj"] = a.q_proj, a.k_proj, a.v_proj, a.o_proj
        if a.inner_attn_ln is not None:
            m[p + "attn_sub_norm"] = a.inner_attn_ln.weight
        m[p + "ffn_norm"] = layer.post_attention_layernorm.weight
        m[p + "gate_proj"], m[p + "up_proj"], m[p + "down_proj"] = f.gate_proj, f.up_proj, f.down_proj
        if f.ffn_layernorm is not None:
            m[p + "ffn_sub_norm"] = f.ffn_layernorm.weight
    return m


def to_bf16(v: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits, round to nearest even (as DQTKernels.FloatBits.floatToBF16)."""
    b = v.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)


def float_reencoding(f: DqtFile) -> tuple[dict, list[str]]:
    """FLOAT_LINEARS applied to f: name -> float32 values, and the new tensor payload checksums."""
    from dqt_file import xxh64
    values, sums = {}, []
    for name, t in f.tensors.items():
        v = f.values(name).numpy().astype(np.float32)
        enc = FLOAT_LINEARS.get(name.split(".")[-1], FLOAT_LINEARS.get(name))
        if enc is None:
            payload = v.tobytes()
        elif enc == "f32":
            payload = v.tobytes()
        elif enc == "f16":
            h = v.astype(np.float16)
            v, payload = h.astype(np.float32), h.tobytes()
        else:
            bits = to_bf16(v)
            v, payload = (bits.astype(np.uint32) << 16).view(np.float32), bits.tobytes()
        values[name] = torch.from_numpy(np.ascontiguousarray(v).reshape(t.rows, t.cols) if t.ndim == 2 else v.copy())
        sums.append(f"{xxh64(payload):016X}")
    return values, sums


class FloatLinear(torch.nn.Linear):
    """A float-encoded linear: y = W·x, no activation quantization (formats/dqt.md §6)."""


def build_model(f: DqtFile, float_values: dict | None = None) -> DQTForCausalLM:
    sp = f.spec
    ternary = all(t.encoding in ("t2", "t1") for n, t in f.tensors.items() if n.endswith("_proj"))
    cfg = DQTConfig(vocab_size=sp["vocab_size"], hidden_size=sp["hidden_size"], intermediate_size=sp["ffn_size"],
                    num_hidden_layers=sp["n_layers"], num_attention_heads=sp["n_heads"], num_key_value_heads=sp["n_kv_heads"],
                    head_dim=sp["head_dim"], max_position_embeddings=sp["max_context"], rms_norm_eps=sp["norm_eps"],
                    rope_theta=sp["rope_theta"], hidden_act="silu" if sp["activation"] == 0 else "relu2",
                    tie_word_embeddings=sp["tied_head"], sub_norms=sp["sub_norms"], bits="1.58" if ternary else "8")
    model = DQTForCausalLM(cfg)
    with torch.no_grad():
        for name, target in tensor_map(model).items():
            info = f.tensors[name]
            if float_values is not None:
                v = float_values[name]
                if isinstance(target, QLinear):   # swap in a float linear on the parent module
                    lin = FloatLinear(target.in_features, target.out_features, bias=False)
                    lin.weight.copy_(v)
                    parent_name, attr = _parent_of(model, target)
                    setattr(model.get_submodule(parent_name), attr, lin)
                else:
                    target.copy_(v.reshape(target.shape))
                continue
            if isinstance(target, QLinear):
                codes, scale = f.codes(name)
                target.qmin, target.qmax = info.qmin, info.qmax
                target.codes.copy_(codes)
                target.scale.fill_(scale)
            else:
                target.copy_(f.values(name).reshape(target.shape))
    head_name = "embed" if sp["tied_head"] else "output"
    if float_values is None and f.tensors[head_name].encoding == "i8r":
        model.head_i8r = f.codes(head_name)
    model.set_exact(False)
    for m in model.modules():   # eager attention (explicit softmax), as the runtime computes it
        if isinstance(m, dqt_torch.Attention):
            m.exact = True
    return model


def grads_of(model: DQTForCausalLM, ids: torch.Tensor):
    model.zero_grad(set_to_none=True)
    logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    loss.backward()
    out = {}
    for name, target in tensor_map(model).items():
        if isinstance(target, QLinear):
            g = target.w_eff.grad
        elif isinstance(target, torch.nn.Linear):
            g = target.weight.grad
        else:
            g = target.grad
        out[name] = g.detach().clone().float().contiguous()
    return float(loss.detach()), out


# MARK: - variants


def convert(dqt_convert: str, fixture: str, opts: list[str], out: str):
    subprocess.run([dqt_convert, os.path.join(REPO, "Tests", "Fixtures", fixture), out, "--quiet", *opts], check=True)


def token_stream(fixture: str) -> list[int]:
    from tokenizers import Tokenizer
    sys.path.insert(0, HERE)
    from make_fixtures import CORPUS
    tok = Tokenizer.from_file(os.path.join(REPO, "Tests", "Fixtures", fixture, "tokenizer.json"))
    return tok.encode(CORPUS).ids


def pick_window(model: DQTForCausalLM, stream: list[int]) -> tuple[torch.Tensor, float]:
    best, best_margin = None, -1.0
    span = B * (T + 1)
    step = max(1, (len(stream) - span) // CANDIDATES)
    with torch.no_grad():
        for c in range(CANDIDATES):
            o = c * step
            if o + span > len(stream):
                break
            ids = torch.tensor(stream[o:o + span], dtype=torch.int64).reshape(B, T + 1)
            MARGINS.clear()
            model(ids[:, :-1])
            margin = min(MARGINS) if MARGINS else float("inf")
            if margin > best_margin:
                best, best_margin = ids, margin
    return best, best_margin


def make_variant(name: str, dqt_convert: str, tmp: str) -> dict:
    fixture, opts, covers = VARIANTS[name]
    path = os.path.join(tmp, name + ".dqt")
    convert(dqt_convert, fixture, opts, path)
    f = DqtFile(path)
    checksums = f.tensor_checksums()
    if name == "float-linears":
        values, checksums = float_reencoding(f)
        model = build_model(f, values)
    else:
        model = build_model(f)
    ids, margin = pick_window(model, token_stream(fixture))
    loss, grads = grads_of(model, ids)
    tensors = {"input_ids": ids.to(torch.int32), "loss": torch.tensor([loss], dtype=torch.float32)}
    for n, g in grads.items():
        tensors["grad." + n] = g
    meta = {"fixture": fixture, "convert_options": json.dumps(opts), "covers": covers, "batch": str(B), "seq_len": str(T),
            "min_margin": f"{margin:.6g}", "tensor_checksums": ",".join(checksums),
            "torch": torch.__version__, "loss": f"{loss:.9g}"}
    save_file(tensors, os.path.join(OUT, f"grad-{name}.safetensors"), metadata=meta)
    info = {"loss": loss, "min_margin": margin, "ids": ids.tolist()}
    if name == "dqt-ternary":
        info["step"] = make_step_golden(model, f, grads)
    return info


def make_step_golden(model: DQTForCausalLM, f: DqtFile, grads: dict) -> dict:
    """One AdamW step, round to nearest, lr 0.01 (codes and float tensors)."""
    opt = DQTOptimizer(model, kind="adamw", rounding="nearest", weight_decay=0.0, seed=0)
    before = {n: (t.codes.clone() if isinstance(t, QLinear) else t.detach().clone()) for n, t in tensor_map(model).items()}
    opt.step(lr=0.01)
    tensors = {}
    changed = total = 0
    for n, t in tensor_map(model).items():
        if isinstance(t, QLinear):
            tensors["after." + n] = t.codes.clone()
            changed += int((t.codes != before[n]).sum())
            total += t.codes.numel()
        else:
            tensors["after." + n] = t.detach().clone().float().contiguous()
    save_file(tensors, os.path.join(OUT, "step-dqt-ternary.safetensors"),
              metadata={"optimizer": "adamw", "lr": "0.01", "rounding": "nearest", "betas": "0.9,0.999", "eps": "1e-6",
                        "weight_decay": "0", "torch": torch.__version__})
    return {"codes_changed": changed, "codes_total": total}


# MARK: - synthetic updates


class _Holder(torch.nn.Module):
    def __init__(self, mods):
        super().__init__()
        self.mods = torch.nn.ModuleList(mods)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def qlinears(self):
        return [(f"t{i}", m) for i, m in enumerate(self.mods)]


UPDATE_TENSORS = [  # (name, rows, cols, bits, scale, gradient scale)
    ("ternary", 24, 200, "1.58", 0.015625, 1.0),
    ("int8", 16, 96, "8", 0.0125, 1.0),
    ("int3", 16, 96, "3", 0.0125, 1.0),
]
UPDATE_CONFIGS = [  # (kind, lr, weight decay)
    ("sgd", 0.02, 0.0), ("sgd", 0.02, 0.5), ("momentum", 0.01, 0.0), ("momentum", 0.01, 0.5),
    ("adamw", 0.01, 0.0), ("adamw", 0.01, 0.5),
]
UPDATE_STEPS = 3


def make_update_golden() -> dict:
    gen = torch.Generator().manual_seed(7)
    tensors, init = {}, []
    for name, R, K, bits, s, gs in UPDATE_TENSORS:
        qmin, qmax = dqt_torch.qgrid(bits)
        codes = torch.randint(qmin, qmax + 1, (R, K), generator=gen).to(torch.int8)
        tensors[f"{name}.codes"] = codes
        tensors[f"{name}.scale"] = torch.tensor([s], dtype=torch.float32)
        # log-uniform magnitudes 1e-4…1 times a sign: small and large steps, rounding boundaries at all scales
        for t in range(UPDATE_STEPS):
            mag = torch.exp(torch.empty(R, K).uniform_(np.log(1e-4), 0.0, generator=gen))
            sign = torch.where(torch.rand(R, K, generator=gen) < 0.5, -1.0, 1.0)
            tensors[f"{name}.grad{t}"] = (mag * sign * gs).float()
        init.append((name, R, K, bits, s, codes))
    flips = {}
    for kind, lr, wd in UPDATE_CONFIGS:
        mods = []
        for name, R, K, bits, s, codes in init:
            m = QLinear(K, R, "dqt", bits)
            m.load_codes(codes, s)
            mods.append(m)
        opt = DQTOptimizer(_Holder(mods), kind=kind, rounding="nearest", weight_decay=wd, seed=0)
        tag = f"{kind}.wd{wd:g}"
        for t in range(UPDATE_STEPS):
            for (name, *_), m in zip(init, mods):
                m.w_eff = (m.codes.float() * m.scale).requires_grad_(True)
                m.w_eff.grad = tensors[f"{name}.grad{t}"].clone()
            before = [m.codes.clone() for m in mods]
            opt.step(lr=lr)
            for (name, *_), m, b in zip(init, mods, before):
                tensors[f"{tag}.{name}.step{t}"] = m.codes.clone()
                flips[f"{tag}.{name}.step{t}"] = float((m.codes != b).float().mean())
    meta = {"configs": json.dumps(UPDATE_CONFIGS), "tensors": json.dumps([u[:5] for u in UPDATE_TENSORS]),
            "steps": str(UPDATE_STEPS), "rounding": "nearest", "betas": "0.9,0.999", "eps": "1e-6", "momentum": "0.9",
            "torch": torch.__version__}
    save_file(tensors, os.path.join(OUT, "update.safetensors"), metadata=meta)
    return flips


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dqt-convert", default=None, help="dqt-convert binary (default: the newest .build*/*/dqt-convert)")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    exe = args.dqt_convert
    if exe is None:
        found = sorted(glob.glob(os.path.join(REPO, ".build*", "*", "dqt-convert")), key=os.path.getmtime)
        if not found:
            sys.exit("no dqt-convert binary found; build it (swift build) or pass --dqt-convert")
        exe = found[-1]
    os.makedirs(OUT, exist_ok=True)
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in VARIANTS:
            if args.only and name not in args.only:
                continue
            report[name] = make_variant(name, exe, tmp)
            print(name, json.dumps({k: v for k, v in report[name].items() if k != "ids"}))
    if not args.only or "update" in args.only:
        flips = make_update_golden()
        print("update: flip fractions", json.dumps({k: round(v, 3) for k, v in flips.items()}))


if __name__ == "__main__":
    main()
