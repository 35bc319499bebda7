"""PyTorch reference model of the dqt family (formats/dqt.md §6).

LLaMA with RMSNorm, rotate-half RoPE, GQA, SiLU- or squared-ReLU-gated FFN, optional
BitNet sub-norms (`inner_attn_ln` before o_proj, `ffn_layernorm` before down_proj, the
1bitLLM / DQT naming), tied or separate float head, and quantized linears (`QLinear`).

QLinear (§6): per-token absmax int8 activation quantization
    alpha = 127 / max(max_i |v_i|, 1e-5)          (float32)
    v_hat = clamp(roundHalfEven(v * alpha), -128, 127)
    y_o   = s * sum_i c[o, i] * v_hat_i / alpha
with integer codes c (int8 tensor; ternary {-1,0,1} or n-bit [-2^(b-1), 2^(b-1)-1]) and one
fixed per-tensor scale s. The effective weight is s*c. The activation uses a straight-through
estimator in training (gradient of the identity).

Weight modes of a QLinear:
  "dqt"    : buffers `codes` (int8 [out, in]) and `scale` (float32 scalar) are the only weight
             state; no latent float copy. Each training forward rebuilds the effective weight
             s*c as a fresh leaf tensor `w_eff` whose .grad the DQT optimizer reads
             (dqt_optim.py). Nothing in autograd ever updates the codes.
  "bitnet" : classic BitNet b1.58 baseline: a latent float32 Parameter `weight`, ternarized in
             every forward with absmean (s = mean|W|, c = clamp(round(W/s), -1, 1)) and a
             straight-through estimator for the weight.

Two numerical paths for the quantized product:
  training path (default): F.linear(v_hat/alpha, s*c) in float32 (differentiable);
  exact path (`model.set_exact(True)`, used for goldens and evaluation): the integer dot
  product sum_i c*v_hat is computed in float64 (exact for any realistic width), then
  y = acc * s / alpha is rounded once to float32. The two agree to float32 rounding.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

ACT_EPS = 1e-5  # floor of max|v| in the activation quantizer (§6)


# MARK: - configuration


@dataclass
class DQTConfig:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 176
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int | None = None  # default hidden_size // num_attention_heads
    max_position_embeddings: int = 128
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    hidden_act: str = "silu"  # "silu" or "relu2"
    tie_word_embeddings: bool = False
    sub_norms: bool = True
    bos_token_id: int | None = 0
    eos_token_id: int | None = 0
    pad_token_id: int | None = None
    weight_mode: str = "dqt"  # "dqt" or "bitnet"
    bits: str = "1.58"  # "1.58" (ternary) or an integer number of bits 2..8

    def __post_init__(self):
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.hidden_act not in ("silu", "relu2"):
            raise ValueError(f"hidden_act must be 'silu' or 'relu2', got {self.hidden_act!r}")
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError("num_key_value_heads must divide num_attention_heads")
        if self.head_dim % 2 != 0:
            raise ValueError("head_dim must be even (rotate-half RoPE)")
        if self.weight_mode not in ("dqt", "bitnet"):
            raise ValueError(f"weight_mode must be 'dqt' or 'bitnet', got {self.weight_mode!r}")
        self.bits = str(self.bits)
        qgrid(self.bits)  # validates

    def to_dict(self) -> dict:
        return asdict(self)


def qgrid(bits: str | float | int) -> tuple[int, int]:
    """(qmin, qmax) of the code grid: ternary for "1.58", else [-2^(b-1), 2^(b-1)-1]."""
    b = str(bits)
    if b in ("1.58", "1.58b", "ternary", "t"):
        return -1, 1
    try:
        n = int(b)
    except ValueError:
        raise ValueError(f"bits must be '1.58' or an integer 2..8, got {bits!r}") from None
    if not 2 <= n <= 8:
        raise ValueError(f"bits must be '1.58' or an integer 2..8, got {bits!r}")
    return -(2 ** (n - 1)), 2 ** (n - 1) - 1


# MARK: - quantizers


def act_quant_int(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token (last dim) absmax int8 quantization, exactly §6, in float32.

    x (..., K) -> (v_hat (..., K) float32 holding integers in [-128, 127], alpha (..., 1) float32).
    torch.round rounds half to even, as the spec requires.
    """
    x = x.float()
    alpha = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=ACT_EPS)
    v_hat = (x * alpha).round().clamp(-128, 127)
    return v_hat, alpha


def act_quant_ste(x: torch.Tensor) -> torch.Tensor:
    """Dequantized activation v_hat / alpha with a straight-through gradient (identity)."""
    v_hat, alpha = act_quant_int(x)
    xq = v_hat / alpha
    return x + (xq - x).detach()


def absmean_codes(w: torch.Tensor, bits: str = "1.58", exact_grid: bool = True) -> tuple[torch.Tensor, float]:
    """DQT/BitNet absmean initialization of codes from float weights.

    Qp = 2^(b-1)-1 (1 for ternary); step s = mean|W| / Qp  (i.e. Delta = 1/(Qp/mean|W|));
    c = clamp(round(W / s), qmin, qmax). With exact_grid, s is rounded to a float32 whose low 8
    mantissa bits are zero, so that every c*s with |c| <= 256 is exactly representable in
    float32 (the stored de-quantized values then lie exactly on the grid, and value / s gives
    the integer code exactly). Returns (codes int8 [same shape], s).
    For 8 bits this init clips every |W| > mean|W| (~42% of a Gaussian) to +-127/-128: it is the
    authors' recipe (s = Qp / mean|W|), kept as specified.
    """
    qmin, qmax = qgrid(bits)
    w = w.detach().float()
    s = w.abs().mean().clamp(min=1e-8).item() / qmax
    if exact_grid:
        s = round_scale(s)
    codes = torch.round(w / s).clamp(qmin, qmax).to(torch.int8)
    return codes, s


def round_scale(s: float) -> float:
    """Round a positive float to float32 with a 16-bit significand (low 8 mantissa bits zero)."""
    t = torch.tensor([s], dtype=torch.float32)
    i = t.view(torch.int32)
    i = (i + (1 << 7)) & ~((1 << 8) - 1)
    return float(i.view(torch.float32).item())


class _TernarySTE(torch.autograd.Function):
    """BitNet b1.58 weight quantization in the forward, identity gradient in the backward."""

    @staticmethod
    def forward(ctx, w):
        s = w.abs().mean().clamp(min=1e-5)
        return (w / s).round().clamp(-1, 1) * s

    @staticmethod
    def backward(ctx, g):
        return g


# MARK: - layers


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        # v / sqrt(mean(v^2) + eps) * g, in float32 (HF LlamaRMSNorm order of operations)
        x = x.float()
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class QLinear(nn.Module):
    """Quantized linear y = s * (c @ v_hat) / alpha; weight [out, in]; no bias."""

    def __init__(self, in_features: int, out_features: int, mode: str = "dqt", bits: str = "1.58"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.mode = mode
        self.bits = str(bits)
        self.qmin, self.qmax = qgrid(bits)
        self.exact = False
        self.w_eff: torch.Tensor | None = None  # last training forward's effective weight (dqt)
        if mode == "dqt":
            self.register_buffer("codes", torch.zeros(out_features, in_features, dtype=torch.int8))
            self.register_buffer("scale", torch.tensor(1.0, dtype=torch.float32))
        elif mode == "bitnet":
            if self.qmin != -1 or self.qmax != 1:
                raise ValueError("bitnet mode is ternary only")
            self.weight = nn.Parameter(torch.empty(out_features, in_features))
        else:
            raise ValueError(f"unknown QLinear mode {mode!r}")

    # codes and scale as the exported checkpoint sees them
    def quantized(self) -> tuple[torch.Tensor, float]:
        if self.mode == "dqt":
            return self.codes, float(self.scale)
        w = self.weight.detach().float()
        s = w.abs().mean().clamp(min=1e-5)
        return (w / s).round().clamp(-1, 1).to(torch.int8), float(s)

    def init_from_float(self, w: torch.Tensor, exact_grid: bool = True):
        if self.mode == "dqt":
            c, s = absmean_codes(w, self.bits, exact_grid)
            self.codes.copy_(c)
            self.scale.fill_(s)
        else:
            with torch.no_grad():
                self.weight.copy_(w)

    def load_codes(self, codes: torch.Tensor, scale: float):
        if self.mode != "dqt":
            raise ValueError("load_codes needs a dqt-mode QLinear")
        if codes.min() < self.qmin or codes.max() > self.qmax:
            raise ValueError(f"codes outside [{self.qmin}, {self.qmax}]")
        self.codes.copy_(codes.to(torch.int8))
        self.scale.fill_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exact:
            codes, s = self.quantized()
            v_hat, alpha = act_quant_int(x)
            acc = F.linear(v_hat.double(), codes.double())  # exact integer dot products
            return (acc * s / alpha.double()).float()
        xq = act_quant_ste(x)
        if self.mode == "bitnet":
            return F.linear(xq, _TernarySTE.apply(self.weight))
        w = self.codes.float() * self.scale
        if torch.is_grad_enabled():
            w.requires_grad_(True)  # leaf: dL/d(s*c) lands in w.grad for the DQT optimizer
            self.w_eff = w
        return F.linear(xq, w)


def rope_cos_sin(head_dim: int, theta: float, positions: torch.Tensor):
    """cos, sin [T, head_dim] in float32, computed as Hugging Face does (rotate-half layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64, device=positions.device).float()
                                / head_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: DQTConfig):
        super().__init__()
        H, K, h, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size
        self.H, self.K, self.h = H, K, h
        mk = lambda i, o: QLinear(i, o, cfg.weight_mode, cfg.bits)
        self.q_proj, self.k_proj, self.v_proj = mk(d, H * h), mk(d, K * h), mk(d, K * h)
        self.o_proj = mk(H * h, d)
        self.inner_attn_ln = RMSNorm(H * h, cfg.rms_norm_eps) if cfg.sub_norms else None
        self.exact = False

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.h).transpose(1, 2)  # [B, H, T, h]
        k = self.k_proj(x).view(B, T, self.K, self.h).transpose(1, 2)  # [B, K, T, h]
        v = self.v_proj(x).view(B, T, self.K, self.h).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        g = self.H // self.K  # KV head j serves query heads j*g .. j*g+g-1
        k = k.repeat_interleave(g, dim=1)
        v = v.repeat_interleave(g, dim=1)
        if self.exact:
            # eager math, as transformers' eager attention
            att = torch.matmul(q, k.transpose(2, 3)) * (self.h ** -0.5)
            mask = torch.full((T, T), float("-inf"), device=q.device).triu(1)
            att = torch.softmax(att + mask, dim=-1, dtype=torch.float32)
            a = torch.matmul(att, v)
        else:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(B, T, self.H * self.h)
        if self.inner_attn_ln is not None:
            a = self.inner_attn_ln(a)
        return self.o_proj(a)


class MLP(nn.Module):
    def __init__(self, cfg: DQTConfig):
        super().__init__()
        d, f = cfg.hidden_size, cfg.intermediate_size
        mk = lambda i, o: QLinear(i, o, cfg.weight_mode, cfg.bits)
        self.gate_proj, self.up_proj, self.down_proj = mk(d, f), mk(d, f), mk(f, d)
        self.ffn_layernorm = RMSNorm(f, cfg.rms_norm_eps) if cfg.sub_norms else None
        self.act = cfg.hidden_act

    def forward(self, x):
        g = self.gate_proj(x)
        g = F.silu(g) if self.act == "silu" else torch.relu(g).square()
        f = g * self.up_proj(x)
        if self.ffn_layernorm is not None:
            f = self.ffn_layernorm(f)
        return self.down_proj(f)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: DQTConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class _Backbone(nn.Module):
    def __init__(self, cfg: DQTConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class DQTForCausalLM(nn.Module):
    """Parameter/buffer names follow the 1bitLLM checkpoint layout (model.layers.N....)."""

    def __init__(self, cfg: DQTConfig):
        super().__init__()
        self.config = cfg
        self.model = _Backbone(cfg)
        self.lm_head = None if cfg.tie_word_embeddings else nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    # -- setup

    def init_weights(self, seed: int = 0, std: float = 0.02, exact_grid: bool = True):
        """LLaMA-style init (N(0, std) weights, unit norms) then absmean codes for the linears."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, mod in self.named_modules():
                if isinstance(mod, QLinear):
                    w = torch.randn(mod.out_features, mod.in_features, generator=gen) * std
                    mod.init_from_float(w, exact_grid)
                elif isinstance(mod, nn.Embedding):
                    mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * std)
                elif isinstance(mod, nn.Linear):
                    mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * std)
                elif isinstance(mod, RMSNorm):
                    mod.weight.fill_(1.0)
        return self

    def set_exact(self, exact: bool = True):
        for m in self.modules():
            if isinstance(m, (QLinear, Attention)):
                m.exact = exact
        return self

    def qlinears(self) -> list[tuple[str, QLinear]]:
        return [(n, m) for n, m in self.named_modules() if isinstance(m, QLinear)]

    # -- forward

    def head_weight(self) -> torch.Tensor:
        return self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids [B, T] int64 -> logits [B, T, V] float32 (the head is a plain float product)."""
        B, T = input_ids.shape
        if positions is None:
            positions = torch.arange(T, device=input_ids.device)
        cos, sin = rope_cos_sin(self.config.head_dim, self.config.rope_theta, positions)
        x = self.model.embed_tokens(input_ids).float()
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        x = self.model.norm(x)
        return F.linear(x, self.head_weight())

    def loss(self, input_ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.forward(input_ids)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    @torch.no_grad()
    def generate(self, input_ids: list[int], n_new: int, temperature: float = 0.0,
                 generator: torch.Generator | None = None, eos_id: int | None = None) -> list[int]:
        """Greedy (temperature 0) or sampled continuation; full recompute per token (reference only)."""
        ids = list(input_ids)
        out = []
        for _ in range(n_new):
            ctx = ids[-self.config.max_position_embeddings:]
            logits = self.forward(torch.tensor([ctx], device=self.head_weight().device))[0, -1]
            if temperature <= 0:
                t = int(torch.argmax(logits))
            else:
                p = torch.softmax(logits / temperature, dim=-1)
                t = int(torch.multinomial(p, 1, generator=generator))
            ids.append(t)
            out.append(t)
            if eos_id is not None and t == eos_id:
                break
        return out


# MARK: - Hugging Face checkpoint I/O (1bitLLM / DQT layout)


def hf_config(cfg: DQTConfig) -> dict:
    return {
        "architectures": ["BitnetForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "max_position_embeddings": cfg.max_position_embeddings,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "hidden_act": cfg.hidden_act,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
        "attention_bias": False,
        "torch_dtype": "float32",
        "quantization_config": {
            "quant_method": "dqt",
            "bits": 1.58 if cfg.bits == "1.58" else int(cfg.bits),
            "weight_mode": cfg.weight_mode,
            "weights_stored": "dequantized float32 code*scale, one scale per tensor",
        },
    }


def config_from_hf(d: dict, weight_mode: str = "dqt") -> DQTConfig:
    qc = d.get("quantization_config") or {}
    bits = qc.get("bits", 1.58)
    return DQTConfig(
        vocab_size=d["vocab_size"], hidden_size=d["hidden_size"], intermediate_size=d["intermediate_size"],
        num_hidden_layers=d["num_hidden_layers"], num_attention_heads=d["num_attention_heads"],
        num_key_value_heads=d.get("num_key_value_heads") or d["num_attention_heads"],
        head_dim=d.get("head_dim"), max_position_embeddings=d.get("max_position_embeddings", 2048),
        rms_norm_eps=d.get("rms_norm_eps", 1e-5), rope_theta=d.get("rope_theta", 10000.0),
        hidden_act=d.get("hidden_act", "silu"), tie_word_embeddings=d.get("tie_word_embeddings", False),
        bos_token_id=d.get("bos_token_id"), eos_token_id=d.get("eos_token_id"),
        pad_token_id=d.get("pad_token_id"), weight_mode=weight_mode,
        bits="1.58" if float(bits) < 2 else str(int(bits)),
    )


def export_state_dict(model: DQTForCausalLM) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """1bitLLM tensor names -> float32 tensors; linears de-quantized exactly as code*scale."""
    out, scales = {}, {}
    for name, t in model.named_parameters():
        if isinstance(_owner(model, name), QLinear):
            continue
        out[name] = t.detach().float().contiguous()
    for name, mod in model.qlinears():
        codes, s = mod.quantized()
        w = codes.float() * torch.tensor(s, dtype=torch.float32)
        assert torch.equal((w / s).round(), codes.float()), "grid values must give the codes back"
        out[name + ".weight"] = w.contiguous()
        scales[name + ".weight"] = s
    return out, scales


def _owner(model: nn.Module, param_name: str) -> nn.Module:
    return model.get_submodule(param_name.rsplit(".", 1)[0]) if "." in param_name else model


def save_hf(model: DQTForCausalLM, out_dir: str, tokenizer_json: str | None = None, extra_meta: dict | None = None):
    """Write config.json, model.safetensors (1bitLLM names, float32) and tokenizer.json."""
    import os
    import shutil
    from safetensors.torch import save_file

    os.makedirs(out_dir, exist_ok=True)
    sd, scales = export_state_dict(model)
    meta = {"format": "pt", "dqt_scales": json.dumps({k: float(v).hex() for k, v in scales.items()})}
    if extra_meta:
        meta.update({k: str(v) for k, v in extra_meta.items()})
    tmp = os.path.join(out_dir, "model.safetensors.tmp")
    save_file(sd, tmp, metadata=meta)
    os.replace(tmp, os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf_config(model.config), f, indent=2)
        f.write("\n")
    if tokenizer_json and os.path.abspath(tokenizer_json) != os.path.abspath(os.path.join(out_dir, "tokenizer.json")):
        shutil.copyfile(tokenizer_json, os.path.join(out_dir, "tokenizer.json"))


def load_hf(ckpt_dir: str, bits: str | None = None) -> DQTForCausalLM:
    """Load a 1bitLLM-layout checkpoint whose linears lie on a per-tensor grid (code*s).

    The scale of each linear comes from the safetensors metadata when present, else from the
    smallest nonzero |value| (exact for the grids this tool writes). Latent (off-grid) weights
    are ternarized with absmean instead.
    """
    import os
    from safetensors import safe_open

    with open(os.path.join(ckpt_dir, "config.json")) as f:
        hcfg = json.load(f)
    cfg = config_from_hf(hcfg)
    if bits is not None:
        cfg.bits = str(bits)
    model = DQTForCausalLM(cfg)
    path = os.path.join(ckpt_dir, "model.safetensors")
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
        scales = {k: float.fromhex(v) for k, v in json.loads(meta.get("dqt_scales", "{}")).items()}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    qnames = {n + ".weight" for n, _ in model.qlinears()}
    with torch.no_grad():
        for name, mod in model.qlinears():
            w = tensors.pop(name + ".weight").float()
            s = scales.get(name + ".weight")
            if s is None:
                nz = w.abs()[w != 0]
                s = float(nz.min()) if nz.numel() else 1.0
            codes = torch.round(w / s)
            if torch.equal(codes * s, w) and codes.min() >= mod.qmin and codes.max() <= mod.qmax:
                mod.load_codes(codes.to(torch.int8), s)
            else:  # latent weights: absmean init
                mod.init_from_float(w)
        params = dict(model.named_parameters())
        for k, v in tensors.items():
            if k not in params:
                raise KeyError(f"{path}: unexpected tensor {k}")
            params[k].copy_(v)
        missing = [k for k in params if k not in tensors and k not in qnames]
        if missing:
            raise KeyError(f"{path}: missing tensors {missing}")
    return model
