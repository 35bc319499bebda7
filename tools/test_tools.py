"""Unit tests of the Python reference tools (developer machine only: CI has no torch).

    cd tools && python -m pytest -q test_tools.py
"""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dqt_optim import DQTOptimizer  # noqa: E402
from dqt_torch import (DQTConfig, DQTForCausalLM, QLinear, absmean_codes, act_quant_int, load_hf,  # noqa: E402
                       qgrid, round_scale, save_hf)

torch.set_num_threads(1)


def tiny(**kw) -> DQTForCausalLM:
    cfg = DQTConfig(vocab_size=50, hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=32, **kw)
    return DQTForCausalLM(cfg).init_weights(seed=3)


# MARK: - activation quantization (spec §6)


def test_act_quant_half_even_and_clamp():
    # max |v| = 127 -> alpha = 1 exactly, so v*alpha = v and the rounding rule is visible
    v = torch.tensor([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -127.0, 3.49]])
    q, alpha = act_quant_int(v)
    assert float(alpha) == 1.0
    assert q.tolist() == [[127, 0, 2, 2, -0, -2, -127, 3]]


def test_act_quant_floor_eps():
    q, alpha = act_quant_int(torch.zeros(1, 4))
    assert float(alpha) == pytest.approx(127 / 1e-5)
    assert q.abs().sum() == 0


def test_act_quant_is_per_token():
    v = torch.tensor([[1.0, -2.0], [100.0, 50.0]])
    q, alpha = act_quant_int(v)
    assert q.tolist() == [[64, -127], [127, 64]]  # 63.5 -> 64 (half even), 63.5 -> 64
    assert alpha[:, 0].tolist() == pytest.approx([63.5, 1.27])


# MARK: - grid and codes


def test_qgrid():
    assert qgrid("1.58") == (-1, 1)
    assert qgrid(8) == (-128, 127)
    assert qgrid("3") == (-4, 3)
    with pytest.raises(ValueError):
        qgrid("9")


def test_round_scale_makes_grid_exact():
    s = round_scale(0.0123456789)
    t = torch.tensor(s, dtype=torch.float32)
    for c in range(-128, 128):
        v = torch.tensor(float(c), dtype=torch.float32) * t
        assert float(v / t) == float(c)
        assert float(v) == c * s  # exact in float32 (the product needs <= 24 significant bits)


def test_absmean_ternary_matches_bitnet():
    w = torch.randn(64, 48, generator=torch.Generator().manual_seed(0)) * 0.02
    c, s = absmean_codes(w, "1.58", exact_grid=False)
    ref = (w / w.abs().mean()).round().clamp(-1, 1)
    assert torch.equal(c.float(), ref)
    assert s == pytest.approx(float(w.abs().mean()))


def test_qlinear_exact_equals_spec_formula():
    torch.manual_seed(0)
    m = QLinear(24, 7, "dqt", "8")
    m.init_from_float(torch.randn(7, 24))
    x = torch.randn(3, 24)
    m.exact = True
    y = m(x)
    q, alpha = act_quant_int(x)
    s = float(m.scale)
    ref = torch.tensor([[s * sum(int(m.codes[o, i]) * int(q[t, i]) for i in range(24)) / float(alpha[t])
                         for o in range(7)] for t in range(3)], dtype=torch.float64).float()
    assert torch.allclose(y, ref, rtol=1e-6, atol=0)
    m.exact = False
    assert torch.allclose(m(x), y, rtol=1e-5, atol=1e-6)  # float32 training path agrees


# MARK: - optimizer


def test_no_latent_float_copy_in_dqt_mode():
    model = tiny()
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.endswith("_proj.weight") for n in names)
    assert all(m.codes.dtype == torch.int8 for _, m in model.qlinears())


def test_sgd_nearest_update_is_exact_formula():
    model = tiny(bits="8")
    opt = DQTOptimizer(model, kind="sgd", rounding="nearest")
    x = torch.randint(0, 50, (2, 16))
    before = {n: m.codes.clone() for n, m in model.qlinears()}
    model.loss(x, x).backward()
    grads = {n: m.w_eff.grad.clone() for n, m in model.qlinears()}
    lr = 1e-3
    opt.step(lr)
    for n, m in model.qlinears():
        s = float(m.scale)
        want = torch.round(before[n].float() - lr * grads[n] / s).clamp(-128, 127)
        assert torch.equal(m.codes.float(), want), n


def test_stochastic_rounding_is_unbiased_and_clamped():
    model = tiny()
    opt = DQTOptimizer(model, kind="sgd", rounding="stochastic", seed=5)
    name, m = model.qlinears()[0]
    m.codes.zero_()
    s = float(m.scale)
    # a constant gradient asking for +0.3 grid steps everywhere: E[new code] = 0.3
    for _, q in model.qlinears():
        q.w_eff = torch.zeros_like(q.codes, dtype=torch.float32).requires_grad_()
        q.w_eff.grad = torch.zeros_like(q.w_eff)
    m.w_eff.grad = torch.full_like(m.w_eff, -0.3 * s / 1e-2)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step(1e-2)
    frac = float(m.codes.float().mean())
    n = m.codes.numel()
    assert abs(frac - 0.3) < 5 * (0.3 * 0.7 / n) ** 0.5
    assert set(m.codes.unique().tolist()) <= {0, 1}
    # a huge step saturates at qmax, never beyond
    m.w_eff.grad = torch.full_like(m.w_eff, -100.0)
    opt.step(1.0)
    assert int(m.codes.max()) == 1 and int(m.codes.min()) == 1


def test_sr_stream_is_reproducible():
    a, b = tiny(), tiny()
    oa, ob = DQTOptimizer(a, seed=9), DQTOptimizer(b, seed=9)
    x = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(1))
    for model, opt in ((a, oa), (b, ob)):
        model.loss(x, x).backward()
        opt.step(3e-2)
    for (n, ma), (_, mb) in zip(a.qlinears(), b.qlinears()):
        assert torch.equal(ma.codes, mb.codes), n


# MARK: - checkpoint round trip


def test_save_load_round_trip_exact(tmp_path):
    model = tiny(bits="8", hidden_act="relu2", tie_word_embeddings=True)
    save_hf(model, str(tmp_path))
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["architectures"] == ["BitnetForCausalLM"] and cfg["model_type"] == "llama"
    assert cfg["quantization_config"]["bits"] == 8
    back = load_hf(str(tmp_path))
    for (n, a), (_, b) in zip(model.qlinears(), back.qlinears()):
        assert torch.equal(a.codes, b.codes) and float(a.scale) == float(b.scale), n
    x = torch.randint(0, 50, (1, 20))
    model.set_exact(True)
    back.set_exact(True)
    assert torch.equal(model(x), back(x))


def test_tensor_names_are_1bitllm(tmp_path):
    from safetensors import safe_open
    save_hf(tiny(), str(tmp_path))
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    for k in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
              "model.layers.1.self_attn.inner_attn_ln.weight", "model.layers.1.mlp.ffn_layernorm.weight",
              "model.layers.0.self_attn.k_proj.weight", "model.layers.0.mlp.down_proj.weight",
              "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight"):
        assert k in keys, k
