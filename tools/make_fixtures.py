#!/usr/bin/env python3
"""Write the small test checkpoints and their golden outputs to Tests/Fixtures/<name>/.

    python tools/make_fixtures.py [--out Tests/Fixtures] [--only NAME ...]

Fixtures (each a Hugging Face checkpoint directory + golden.safetensors + golden.json):
  dqt-ternary  DQT / 1bitLLM `BitnetForCausalLM` layout, SiLU, ternary codes on the grid, untied head.
               Reference: dqt_torch (exact path). Cross-checked against transformers'
               BitNetForCausalLM with the same codes (hidden_act silu, untied lm_head).
  dqt-int8     same layout, 8-bit codes (grid -128..127), relu2, tied head. Reference: dqt_torch.
  hf-bitnet    Hugging Face `BitNetForCausalLM` (model_type bitnet): packed uint8 weights (4 per
               byte along the output dim, transformers' pack_weights), `weight_scale` with
               linear_class "autobitlinear" / quantization_mode "offline" (weight_scale = s, multiplied;
               the class microsoft/bitnet-b1.58-2B-4T loads through, see golden.json), relu2,
               attn_sub_norm / ffn_sub_norm, GQA, tied embeddings, rope_theta 500000.
               Reference: transformers itself (from_pretrained of the written directory).
               Cross-checked against dqt_torch with the same weights, and against the same codes
               written for linear_class "bitlinear" (weight_scale = 1/s, divided).
  llama-f32    plain LlamaForCausalLM, float weights. `logits`/`greedy` from transformers (float);
               `logits_ternary`/`greedy_ternary`: our semantics after absmean ternarization of every
               linear (dqt_torch); `logits_int8_absmax`/`greedy_int8_absmax`: after per-tensor absmax
               int8 (s = max|W|/127). Head and embedding stay float.

golden.safetensors: input_ids int32 [64], logits float32 [64, vocab] (every position of the one
64-token prompt), greedy int32 [32] (32 argmax steps after the prompt, full recompute, no stop at
eos). The models are trained for a few hundred steps on a small built-in corpus so that logits
are structured; the seed is chosen so that every greedy step has a top-1/top-2 logit margin of at
least MIN_MARGIN (0.03 for quantized models, 0.002 for float ones), so a correct runtime cannot
legitimately disagree on the argmax.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe_tokenizer import EOT, train_bpe  # noqa: E402
from dqt_optim import BitNetOptimizer, DQTOptimizer  # noqa: E402
from dqt_torch import DQTConfig, DQTForCausalLM, load_hf, save_hf  # noqa: E402

# Required top-1/top-2 logit margin at every greedy step. A quantized model can legitimately
# differ by ~1e-2 between two correct float32 implementations (one int8 activation flipping at a
# rounding boundary, measured 0.015 on dqt-ternary), so its greedy goldens need a larger margin
# than a float model's (ulp noise ~1e-5).
MIN_MARGIN = 3e-2
MIN_MARGIN_FLOAT = 2e-3
N_PROMPT, N_GREEDY = 64, 32
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# A small built-in corpus (written for this file) with punctuation, digits, code and non-ASCII
# text, so the byte-level BPE and the models see multi-byte UTF-8 sequences.
CORPUS = """\
The little board sat on the shelf beside the window, humming quietly while it read the model
from its memory card. Every weight was one of three values: minus one, zero, or plus one.
The activations were squeezed into eight bits, one scale for every token, and the sums were
exact integers until the very last multiply. Nobody had to wait for a server far away.

"Can a machine this small really write a sonnet?" asked the engineer. The board answered with
a line about the sea, then a line about the moon, and then it stopped to think about rhymes.
It was not Shakespeare, but it was not nothing either; it was fourteen lines in twelve seconds.

Training happened in small steps. A gradient arrived, the optimizer looked at its moments, and
each weight moved up or down by one grid step with a probability equal to the fraction of a
step it wanted to move. On average the weights went where the gradient pointed; no float copy
of the weights was kept anywhere, only the integer codes and one scale per tensor.

def rms_norm(x, g, eps=1e-5):
    return x / sqrt(mean(x * x) + eps) * g

for step in range(1000):
    loss = model(batch)
    loss.backward()
    optimizer.step()   # codes <- clamp(SR(codes - lr * u / s), -1, 1)

Numbers: 3.14159, 2.71828, 1.41421, 0.57721, 1 2 3 4 5 6 7 8 9 10 11 12 100 1000 65536.
Café, naïve, façade, jalapeño, Größe, smørrebrød; Ελληνικά, Русский, 日本語, 中文, 한국어 — and 🙂.

Once upon a time there was a tiny language model that lived inside a thermostat. In the
morning it said good morning, in the evening it said good night, and in between it counted
the degrees. One winter day the heating broke, and the model, which had only ever learned to
count, began to tell stories to keep the house warm. The stories were short and a little odd,
but the family listened, and the house felt warmer anyway.

Rules for the file: every byte belongs to exactly one section; offsets are multiples of the
alignment; checksums are verified before anything is read; a reader rejects what it does not
understand and says which field, at which offset, was wrong. Small files, one job each.
"""

PROMPT_TEXT = (
    "Training happened in small steps. A gradient arrived, and each weight moved up or down by one "
    "grid step; the little board sat on the shelf and counted the degrees while the model wrote a "
    "short story about the sea and the moon and the winter."
)


def versions() -> dict:
    import numpy
    import safetensors
    import tokenizers
    import transformers
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__, "numpy": numpy.__version__}


def make_tokenizer(vocab_size: int, specials: list[str] | None = None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    docs = [p for p in CORPUS.split("\n\n") if p.strip()]
    if specials is None:
        return train_bpe(docs, vocab_size)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer=tr)
    return tok


def prompt_ids(tok, bos: int) -> list[int]:
    ids = [bos] + tok.encode(PROMPT_TEXT).ids
    if len(ids) < N_PROMPT:
        raise RuntimeError(f"prompt text gives only {len(ids)} tokens, need {N_PROMPT}")
    return ids[:N_PROMPT]


def corpus_stream(tok, eot: int) -> torch.Tensor:
    ids = []
    for p in CORPUS.split("\n\n"):
        ids += [eot] + tok.encode(p).ids
    return torch.tensor(ids, dtype=torch.long)


def quick_train(model: DQTForCausalLM, stream: torch.Tensor, steps: int, lr: float, seed: int, mode: str):
    """A few hundred steps on the corpus so that logits are not uniform noise."""
    gen = torch.Generator().manual_seed(seed)
    opt = DQTOptimizer(model, seed=seed) if mode == "dqt" else BitNetOptimizer(model)
    model.train()
    seq, batch = 48, 8
    for step in range(steps):
        starts = torch.randint(0, len(stream) - seq - 1, (batch,), generator=gen)
        x = torch.stack([stream[s:s + seq] for s in starts])
        y = torch.stack([stream[s + 1:s + seq + 1] for s in starts])
        opt.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        grads = opt.grads()
        norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
        torch.nn.utils.clip_grads_with_norm_(grads, 1.0, norm)
        cur = lr * min(1.0, (step + 1) / 20) * (0.1 + 0.9 * (1 - step / steps))
        opt.step(cur)
    model.eval()
    return loss.item()


def greedy_with_margin(logits_fn, ids: list[int], n: int):
    """32 argmax steps with full recompute; returns (tokens, min top1-top2 margin)."""
    ids = list(ids)
    out, margin = [], float("inf")
    for _ in range(n):
        lg = logits_fn(ids)[-1]
        top = torch.topk(lg, 2).values
        margin = min(margin, float(top[0] - top[1]))
        t = int(torch.argmax(lg))
        out.append(t)
        ids.append(t)
    return out, margin


def prompt_margin(logits: torch.Tensor) -> float:
    top = torch.topk(logits, 2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


def write_golden(dir_: str, ids, logits, greedy, info: dict, extra: dict | None = None):
    from safetensors.torch import save_file
    t = {"input_ids": torch.tensor(ids, dtype=torch.int32), "logits": logits.float().contiguous(),
         "greedy": torch.tensor(greedy, dtype=torch.int32)}
    for k, v in (extra or {}).items():
        t[k] = v.contiguous()
    save_file(t, os.path.join(dir_, "golden.safetensors"))
    info = {"versions": versions(), "command": "python tools/make_fixtures.py", **info,
            "input_text": PROMPT_TEXT, "n_prompt": N_PROMPT, "n_greedy": N_GREEDY,
            "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)} for k, v in t.items()}}
    with open(os.path.join(dir_, "golden.json"), "w") as f:
        json.dump(info, f, indent=2, ensure_ascii=False)
        f.write("\n")


def dqt_logits_fn(model):
    model.set_exact(True).eval()
    return lambda ids: model(torch.tensor([ids]))[0].detach()


def fresh_dir(path):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)


# MARK: - transformers BitNet mapping


def write_hf_bitnet_dir(dir_: str, cfg: DQTConfig, model: DQTForCausalLM, tok, bos: int, eos: int,
                        linear_class: str = "autobitlinear", rope_style: str = "legacy"):
    """Write a transformers BitNetForCausalLM checkpoint (packed uint8) from a dqt_torch model.

    Names: model.layers.N.self_attn.{q,k,v,o}_proj.{weight,weight_scale},
    model.layers.N.self_attn.attn_sub_norm.weight, model.layers.N.mlp.{gate,up,down}_proj.*,
    model.layers.N.mlp.ffn_sub_norm.weight, input_layernorm, post_attention_layernorm,
    model.embed_tokens.weight, model.norm.weight, lm_head.weight (untied only).
    weight_scale: 1/s for bitlinear (transformers divides), s for autobitlinear (multiplies).
    """
    from safetensors.torch import save_file
    from transformers.integrations.bitnet import pack_weights

    os.makedirs(dir_, exist_ok=True)
    sd = {}
    rename = {"inner_attn_ln": "attn_sub_norm", "ffn_layernorm": "ffn_sub_norm"}
    for name, p in model.named_parameters():
        parts = name.split(".")
        parts = [rename.get(x, x) for x in parts]
        sd[".".join(parts)] = p.detach().float().clone()
    for name, mod in model.qlinears():
        codes, s = mod.quantized()
        sd[name + ".weight"] = pack_weights(codes.to(torch.int32).clone())  # pack_weights adds 1 in place
        ws = (1.0 / s) if linear_class == "bitlinear" else s
        sd[name + ".weight_scale"] = torch.tensor([ws], dtype=torch.float32)
    save_file(sd, os.path.join(dir_, "model.safetensors"), metadata={"format": "pt"})
    conf = {
        "architectures": ["BitNetForCausalLM"], "model_type": "bitnet",
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers, "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads, "hidden_act": cfg.hidden_act,
        "max_position_embeddings": cfg.max_position_embeddings, "rms_norm_eps": cfg.rms_norm_eps,
        "tie_word_embeddings": cfg.tie_word_embeddings, "bos_token_id": bos, "eos_token_id": eos,
        "attention_bias": False, "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": True,
        "torch_dtype": "float32",
        "quantization_config": {"quant_method": "bitnet", "linear_class": linear_class,
                                "quantization_mode": "offline", "modules_to_not_convert": None},
    }
    if rope_style == "legacy":
        conf["rope_theta"] = cfg.rope_theta
    else:
        conf["rope_parameters"] = {"rope_theta": cfg.rope_theta, "rope_type": "default"}
    with open(os.path.join(dir_, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    tok.save(os.path.join(dir_, "tokenizer.json"))


def load_transformers_bitnet(dir_: str):
    from transformers import BitNetForCausalLM
    m = BitNetForCausalLM.from_pretrained(dir_, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    return m


def hf_logits_fn(m):
    @torch.no_grad()
    def f(ids):
        return m(torch.tensor([ids]), use_cache=False).logits[0].float()
    return f


# MARK: - fixtures


def make_dqt(name: str, out_root: str, bits: str, act: str, tied: bool, seed: int, tok, bos: int):
    cfg = DQTConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                    rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act=act, tie_word_embeddings=tied,
                    bos_token_id=bos, eos_token_id=bos, weight_mode="dqt", bits=bits)
    stream = corpus_stream(tok, bos)
    ids = prompt_ids(tok, bos)
    for attempt in range(20):
        s = seed + attempt
        model = DQTForCausalLM(cfg).init_weights(seed=s, std=0.02)
        train_loss = quick_train(model, stream, steps=300, lr=(1e-2 if bits == "1.58" else 2e-3), seed=s, mode="dqt")
        d = os.path.join(out_root, name)
        fresh_dir(d)
        tok_path = os.path.join(d, "tokenizer.json")
        tok.save(tok_path)
        save_hf(model, d, None)
        ref = load_hf(d)  # goldens come from the checkpoint as written
        fn = dqt_logits_fn(ref)
        logits = fn(ids)
        greedy, gm = greedy_with_margin(fn, ids, N_GREEDY)
        if gm >= MIN_MARGIN:
            break
        print(f"{name}: seed {s} greedy margin {gm:.2e} < {MIN_MARGIN}, retrying")
    else:
        raise RuntimeError(f"{name}: no seed with a safe greedy margin")
    ref.set_exact(False)
    noise = float((ref(torch.tensor([ids]))[0].detach() - logits).abs().max())
    ref.set_exact(True)
    info = {"name": name, "family": "DQT / 1bitLLM BitnetForCausalLM (model_type llama)",
            "rounding_noise_max_abs_logit_diff": noise,
            "rounding_noise_note": "dqt_torch float32 training path vs exact path on this prompt: the size of "
                                   "differences two correct float32 implementations can show (an activation "
                                   "within an ulp of a rounding boundary flips by one int8 step)",
            "reference": "tools/dqt_torch.py exact path (integer dot products in float64, y = acc*s/alpha "
                         "rounded once to float32; RMSNorm, RoPE, softmax in float32, eager attention)",
            "bits": bits, "hidden_act": act, "tie_word_embeddings": tied, "seed": s,
            "train": {"steps": 300, "final_train_loss": train_loss, "corpus": "built-in CORPUS in make_fixtures.py"},
            "min_greedy_margin": gm, "min_prompt_margin": prompt_margin(logits),
            "scales": {n + ".weight": float(m.scale) for n, m in ref.qlinears()},
            "code_histogram": code_hist(ref)}
    return d, ref, ids, logits, greedy, info


def code_hist(model) -> dict:
    allc = torch.cat([m.codes.flatten() for _, m in model.qlinears()]).long()
    lo, hi = int(allc.min()), int(allc.max())
    return {"min": lo, "max": hi, "fraction_zero": float((allc == 0).float().mean()),
            "distinct": int(torch.unique(allc).numel())}


def crosscheck_with_transformers(ref: DQTForCausalLM, tok, bos, ids, logits, tmp: str) -> dict:
    """Map a ternary dqt_torch model into transformers' BitNetForCausalLM and compare."""
    fresh_dir(tmp)
    write_hf_bitnet_dir(tmp, ref.config, ref, tok, bos, bos)
    hf = load_transformers_bitnet(tmp)
    out = compare_models(ref, hf, ids)
    shutil.rmtree(tmp)
    return out


@torch.no_grad()
def compare_models(ours: DQTForCausalLM, hf, ids) -> dict:
    """dqt_torch (exact path) vs transformers BitNet on the same weights.

    end_to_end: logits of both models on the prompt. A 1-ulp difference anywhere upstream can
    move one activation across a rounding boundary (v*alpha within an ulp of k+0.5), which
    changes one int8 activation by 1 and then propagates, so end-to-end differences of 1e-3..1e-2
    are expected between two correct float32 implementations.
    per_linear: every BitLinear fed the *same* input (captured from transformers' run): isolates
    the quantized-linear semantics (activation quant, packing, weight_scale) from upstream noise.
    per_layer: every decoder layer fed the same input (captured), attention/RoPE/norms included.
    """
    ours.set_exact(True).eval()
    x = torch.tensor([ids])
    caps = {}

    def hook(name):
        def f(m, inp, out):
            caps[name] = (inp[0].detach().clone(), (out[0] if isinstance(out, tuple) else out).detach().clone())
        return f

    handles = []
    for n, m in hf.named_modules():
        if n.endswith("_proj") or (n.startswith("model.layers.") and n.count(".") == 2):
            handles.append(m.register_forward_hook(hook(n)))
    pos_emb = {}
    handles.append(hf.model.rotary_emb.register_forward_hook(lambda m, i, o: pos_emb.setdefault("cs", o)))
    hl = hf(x, use_cache=False).logits[0].float()
    for h in handles:
        h.remove()
    ol = ours(x)[0]
    lin_abs, lin_rel = 0.0, 0.0
    for n, m in ours.qlinears():
        i, o = caps[n]
        y = m(i)
        lin_abs = max(lin_abs, float((y - o).abs().max()))
        lin_rel = max(lin_rel, float((y - o).abs().max() / o.abs().max().clamp(min=1e-30)))
    cos, sin = pos_emb["cs"]
    lay = 0.0
    for L, layer in enumerate(ours.model.layers):
        i, o = caps[f"model.layers.{L}"]
        y = layer(i, cos[0], sin[0])
        lay = max(lay, float((y - o).abs().max()))
    # our own float32 "training" path vs exact path: the size of pure rounding noise
    ours.set_exact(False)
    nl = ours(x)[0]
    ours.set_exact(True)
    return {"end_to_end_max_abs_logit_diff": float((hl - ol).abs().max()),
            "end_to_end_argmax_agree": bool(torch.equal(hl.argmax(-1), ol.argmax(-1))),
            "per_linear_same_input_max_abs_diff": lin_abs,
            "per_linear_same_input_max_diff_over_max_abs_output": lin_rel,
            "per_layer_same_input_max_abs_diff": lay,
            "dqt_torch_float32_path_vs_exact_path_max_abs_logit_diff": float((nl - ol).abs().max()),
            "max_abs_logit": float(hl.abs().max())}


def make_hf_bitnet(out_root: str, seed: int):
    name = "hf-bitnet"
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    tok = make_tokenizer(400, specials)
    bos, eos = tok.token_to_id(specials[0]), tok.token_to_id(specials[1])
    cfg = DQTConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=176, num_hidden_layers=3,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
                    rope_theta=500000.0, hidden_act="relu2", tie_word_embeddings=True, bos_token_id=bos,
                    eos_token_id=eos, weight_mode="bitnet", bits="1.58")
    stream = corpus_stream(tok, eos)
    ids = prompt_ids(tok, bos)
    for attempt in range(20):
        s = seed + attempt
        model = DQTForCausalLM(cfg).init_weights(seed=s, std=0.02)
        train_loss = quick_train(model, stream, steps=300, lr=3e-3, seed=s, mode="bitnet")
        d = os.path.join(out_root, name)
        fresh_dir(d)
        write_hf_bitnet_dir(d, cfg, model, tok, bos, eos, linear_class="autobitlinear", rope_style="legacy")
        hf = load_transformers_bitnet(d)
        fn = hf_logits_fn(hf)
        logits = fn(ids)
        greedy, gm = greedy_with_margin(fn, ids, N_GREEDY)
        if gm >= MIN_MARGIN:
            break
        print(f"{name}: seed {s} greedy margin {gm:.2e} < {MIN_MARGIN}, retrying")
    else:
        raise RuntimeError(f"{name}: no seed with a safe greedy margin")
    # independent check: the same weights in dqt_torch (codes and s = 1/weight_scale)
    ours = dqt_from_hf_bitnet(d)
    cmp = compare_models(ours, hf, ids)
    og, _ = greedy_with_margin(dqt_logits_fn(ours), ids, N_GREEDY)
    # and the other linear_class: bitlinear (weight_scale = 1/s, divided) with the same codes,
    # with the transformers-5 `rope_parameters` spelling of rope_theta
    tmp = os.path.join(out_root, ".tmp-bitlinear")
    fresh_dir(tmp)
    write_hf_bitnet_dir(tmp, cfg, model, tok, bos, eos, linear_class="bitlinear", rope_style="parameters")
    al = hf_logits_fn(load_transformers_bitnet(tmp))(ids)
    shutil.rmtree(tmp)
    hf_cfg = hf.config
    info = {"name": name, "family": "Hugging Face BitNetForCausalLM (model_type bitnet)",
            "reference": "transformers BitNetForCausalLM.from_pretrained(<this dir>, dtype=float32, "
                         "attn_implementation='eager'); logits of one forward over the 64 ids; greedy = 32 "
                         "argmax steps with full recompute (use_cache=False)",
            "linear_class": "autobitlinear, quantization_mode offline (as microsoft/bitnet-b1.58-2B-4T): packed "
                            "weights unpacked at load (BitNetDeserialize), y = F.linear(v_hat/alpha, W_q) * weight_scale, "
                            "weight_scale = s (absmean step, multiplied)",
            "packing": "transformers.integrations.bitnet.pack_weights: uint8 [ceil(O/4), I], "
                       "packed[r, c] |= (W[i*R + r, c] + 1) << 2i, R = ceil(O/4), i = 0..3",
            "seed": s, "train": {"steps": 300, "final_train_loss": train_loss, "mode": "bitnet latent weights"},
            "loaded_rope_parameters": dict(hf_cfg.rope_parameters),
            "min_greedy_margin": gm, "min_prompt_margin": prompt_margin(logits),
            "crosscheck": {
                **cmp,
                "dqt_torch_greedy_equal": og == greedy,
                "bitlinear_class_same_codes_max_abs_logit_diff": float((al - logits).abs().max()),
            },
            "special_tokens": {"bos": bos, "eos": eos, "eot": tok.token_to_id(specials[2])}}
    return d, ids, logits, greedy, info


def dqt_from_hf_bitnet(d: str) -> DQTForCausalLM:
    """Our reading of a transformers BitNet checkpoint: unpack codes; s = weight_scale (autobitlinear)
    or s = 1/weight_scale (bitlinear, the BitNetQuantConfig default when linear_class is absent)."""
    from safetensors.torch import load_file
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    theta = c.get("rope_theta") or c["rope_parameters"]["rope_theta"]
    cfg = DQTConfig(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                    num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                    num_key_value_heads=c["num_key_value_heads"], max_position_embeddings=c["max_position_embeddings"],
                    rms_norm_eps=c["rms_norm_eps"], rope_theta=theta, hidden_act=c["hidden_act"],
                    tie_word_embeddings=c["tie_word_embeddings"], weight_mode="dqt", bits="1.58")
    sd = load_file(os.path.join(d, "model.safetensors"))
    m = DQTForCausalLM(cfg)
    divide = c["quantization_config"].get("linear_class", "bitlinear") == "bitlinear"
    with torch.no_grad():
        for name, mod in m.qlinears():
            p = sd.pop(name + ".weight")
            ws = float(sd.pop(name + ".weight_scale")[0])
            R = p.shape[0]
            codes = torch.cat([((p >> (2 * i)) & 3).to(torch.int8) - 1 for i in range(4)])[: mod.out_features]
            assert codes.shape[0] == mod.out_features and R * 4 >= mod.out_features
            mod.load_codes(codes, (1.0 / ws) if divide else ws)
        params = dict(m.named_parameters())
        for k, v in sd.items():
            k2 = k.replace("attn_sub_norm", "inner_attn_ln").replace("ffn_sub_norm", "ffn_layernorm")
            params[k2].copy_(v)
    return m


def make_llama(out_root: str, seed: int, tok, bos: int):
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM
    name = "llama-f32"
    d = os.path.join(out_root, name)
    ids = prompt_ids(tok, bos)
    stream = corpus_stream(tok, bos)
    for attempt in range(20):
        s = seed + attempt
        torch.manual_seed(s)
        conf = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                           rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=False,
                           bos_token_id=bos, eos_token_id=bos, attn_implementation="eager")
        hf = LlamaForCausalLM(conf)
        # a short float training run so the weights have structure
        opt = torch.optim.AdamW(hf.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(s)
        hf.train()
        for step in range(200):
            st = torch.randint(0, len(stream) - 49, (8,), generator=g)
            x = torch.stack([stream[a:a + 48] for a in st])
            y = torch.stack([stream[a + 1:a + 49] for a in st])
            loss = hf(x, labels=None, use_cache=False).logits
            loss = torch.nn.functional.cross_entropy(loss.reshape(-1, loss.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        hf.eval()
        fresh_dir(d)
        hf.save_pretrained(d)
        tok.save(os.path.join(d, "tokenizer.json"))
        hf = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
        fn = hf_logits_fn(hf)
        logits = fn(ids)
        greedy, gm = greedy_with_margin(fn, ids, N_GREEDY)
        # our ternarized / int8 semantics of the same weights
        tern = dqt_from_llama(d, "ternary")
        tl = dqt_logits_fn(tern)(ids)
        tg, tm = greedy_with_margin(dqt_logits_fn(tern), ids, N_GREEDY)
        i8 = dqt_from_llama(d, "int8_absmax")
        il = dqt_logits_fn(i8)(ids)
        ig, im = greedy_with_margin(dqt_logits_fn(i8), ids, N_GREEDY)
        if gm >= MIN_MARGIN_FLOAT and min(tm, im) >= MIN_MARGIN:
            break
        print(f"{name}: seed {s} margins {gm:.2e} {tm:.2e} {im:.2e}, retrying")
    else:
        raise RuntimeError(f"{name}: no seed with a safe greedy margin")
    # float path check: dqt_torch with float linears is not part of dqt_torch, so compare
    # transformers' float model against nothing else; the quantized goldens are ours.
    info = {"name": name, "family": "LlamaForCausalLM (float32)", "seed": s,
            "reference": {
                "logits/greedy": "transformers LlamaForCausalLM (float32, eager attention), no quantization",
                "logits_ternary/greedy_ternary": "dqt_torch exact path after absmean ternarization of every "
                    "linear: s = float32(mean_f64(|W|)), c = clamp(roundHalfEven(W / s), -1, 1) (W/s in float64); "
                    "int8 per-token activation quant as in spec 6; embedding and lm_head stay float32, no sub-norms",
                "logits_int8_absmax/greedy_int8_absmax": "same with per-tensor absmax int8 codes: "
                    "s = float32(max|W| / 127), c = clamp(roundHalfEven(W / s), -128, 127)",
            },
            "train": {"steps": 200, "optimizer": "torch AdamW lr 3e-3", "final_train_loss": float(loss)},
            "min_greedy_margin": {"float": gm, "ternary": tm, "int8_absmax": im},
            "ternary_vs_float_max_abs_logit_diff": float((tl - logits).abs().max()),
            "rounding_noise_max_abs_logit_diff": {"ternary": noise_of(tern, ids, tl), "int8_absmax": noise_of(i8, ids, il)}}
    extra = {"logits_ternary": tl.float(), "greedy_ternary": torch.tensor(tg, dtype=torch.int32),
             "logits_int8_absmax": il.float(), "greedy_int8_absmax": torch.tensor(ig, dtype=torch.int32)}
    return d, ids, logits, greedy, info, extra


def noise_of(m: DQTForCausalLM, ids, exact_logits) -> float:
    m.set_exact(False)
    out = float((m(torch.tensor([ids]))[0].detach() - exact_logits).abs().max())
    m.set_exact(True)
    return out


def dqt_from_llama(d: str, how: str) -> DQTForCausalLM:
    from safetensors.torch import load_file
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    theta = c.get("rope_theta") or (c.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    bits = "1.58" if how == "ternary" else "8"
    cfg = DQTConfig(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"],
                    num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                    num_key_value_heads=c["num_key_value_heads"], max_position_embeddings=c["max_position_embeddings"],
                    rms_norm_eps=c["rms_norm_eps"], rope_theta=theta, hidden_act=c["hidden_act"],
                    tie_word_embeddings=c.get("tie_word_embeddings", False), sub_norms=False,
                    weight_mode="dqt", bits=bits)
    sd = load_file(os.path.join(d, "model.safetensors"))
    m = DQTForCausalLM(cfg)
    with torch.no_grad():
        for name, mod in m.qlinears():
            w = sd.pop(name + ".weight").double()
            if how == "ternary":
                s = float(torch.tensor(w.abs().mean().item(), dtype=torch.float32))
                codes = torch.round(w / s).clamp(-1, 1)
            else:
                s = float(torch.tensor(w.abs().max().item() / 127, dtype=torch.float32))
                codes = torch.round(w / s).clamp(-128, 127)
            mod.load_codes(codes.to(torch.int8), s)
        params = dict(m.named_parameters())
        for k, v in sd.items():
            params[k].copy_(v)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "Tests", "Fixtures"))
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    want = lambda n: not args.only or n in args.only

    tok = make_tokenizer(384)
    bos = tok.token_to_id(EOT)
    report = {}
    if want("dqt-ternary"):
        d, ref, ids, logits, greedy, info = make_dqt("dqt-ternary", args.out, "1.58", "silu", False, 100, tok, bos)
        info["crosscheck"] = crosscheck_with_transformers(ref, tok, bos, ids, logits,
                                                          os.path.join(args.out, ".tmp-crosscheck"))
        write_golden(d, ids, logits, greedy, info)
        report["dqt-ternary"] = info["crosscheck"]
    if want("dqt-int8"):
        d, ref, ids, logits, greedy, info = make_dqt("dqt-int8", args.out, "8", "relu2", True, 200, tok, bos)
        write_golden(d, ids, logits, greedy, info)
        report["dqt-int8"] = {"min_greedy_margin": info["min_greedy_margin"], "codes": info["code_histogram"]}
    if want("hf-bitnet"):
        d, ids, logits, greedy, info = make_hf_bitnet(args.out, 300)
        write_golden(d, ids, logits, greedy, info)
        report["hf-bitnet"] = info["crosscheck"]
    if want("llama-f32"):
        d, ids, logits, greedy, info, extra = make_llama(args.out, 400, tok, bos)
        write_golden(d, ids, logits, greedy, info, extra)
        report["llama-f32"] = info["min_greedy_margin"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
