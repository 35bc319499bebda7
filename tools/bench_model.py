"""A BitNet-shaped Hugging Face checkpoint with random ternary weights, for speed benchmarks.

Shape of 1bitLLM/bitnet_b1_58-large (hidden 1536, FFN 4096, 24 layers, 16 heads, vocab 32002,
tied embeddings, SiLU-gated FFN, sub-norms), in the 1bitLLM `BitnetForCausalLM` layout that both
`dqt-convert` and llama.cpp's `convert_hf_to_gguf.py` read. Linears hold exact ternary values
{-s, 0, +s} (s a power of two, exact in bf16), so every converter derives the same codes
(absmean: |W|/mean|W| = 1.5 rounds to 1; grid detection: codes ±1 with Δ = s).
Stored as bf16 (1.4 GB instead of 2.9). The tokenizer is a SentencePiece BPE model trained on
the text files given with --corpus (llama.cpp pads the vocabulary to vocab_size with [PAD] tokens;
dqt accepts a tokenizer smaller than the model's vocabulary).

    python tools/bench_model.py OUT_DIR --corpus DIR_OR_FILE [--layers 24 ...]
Random weights are fine for speed: no engine's work depends on the values.
"""

from __future__ import annotations

import argparse
import glob
import json
import os


def train_tokenizer(out_dir: str, corpus: str, vocab: int) -> None:
    import sentencepiece as spm

    files = [corpus] if os.path.isfile(corpus) else sorted(
        glob.glob(os.path.join(corpus, "**", "*.md"), recursive=True))
    if not files:
        raise SystemExit(f"{corpus}: no text files (*.md) for the tokenizer")
    text = os.path.join(out_dir, "corpus.txt")
    with open(text, "w", encoding="utf-8") as out:
        for f in files:
            with open(f, encoding="utf-8", errors="ignore") as src:
                out.write(src.read())
                out.write("\n")
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=os.path.join(out_dir, "tokenizer"), vocab_size=vocab, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        max_sentence_length=1 << 16, minloglevel=2)
    os.remove(os.path.join(out_dir, "tokenizer.vocab"))
    os.remove(text)


def write_checkpoint(out_dir: str, a: argparse.Namespace) -> int:
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(a.seed)
    d, f, L, V = a.hidden, a.ffn, a.layers, a.vocab
    s = 2.0 ** -4  # ternary value magnitude, exact in bf16

    def ternary(rows: int, cols: int) -> torch.Tensor:
        return (torch.randint(-1, 2, (rows, cols), generator=g, dtype=torch.int8).to(torch.bfloat16) * s)

    def ones(n: int) -> torch.Tensor:
        return torch.ones(n, dtype=torch.bfloat16)

    sd = {"model.embed_tokens.weight": (torch.randn(V, d, generator=g) * 0.02).to(torch.bfloat16),
          "model.norm.weight": ones(d)}
    for l in range(L):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = ones(d)
        sd[p + "post_attention_layernorm.weight"] = ones(d)
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            sd[p + f"self_attn.{n}.weight"] = ternary(d, d)
        sd[p + "self_attn.inner_attn_ln.weight"] = ones(d)
        sd[p + "mlp.gate_proj.weight"] = ternary(f, d)
        sd[p + "mlp.up_proj.weight"] = ternary(f, d)
        sd[p + "mlp.down_proj.weight"] = ternary(d, f)
        sd[p + "mlp.ffn_layernorm.weight"] = ones(f)
    scales = {k: float(s).hex() for k in sd if k.endswith("_proj.weight")}
    save_file(sd, os.path.join(out_dir, "model.safetensors"),
              metadata={"format": "pt", "dqt_scales": json.dumps(scales)})
    config = {
        "architectures": ["BitnetForCausalLM"], "model_type": "llama",
        "vocab_size": V, "hidden_size": d, "intermediate_size": f, "num_hidden_layers": L,
        "num_attention_heads": a.heads, "num_key_value_heads": a.heads, "head_dim": d // a.heads,
        "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None,
        "attention_bias": False, "torch_dtype": "bfloat16",
    }
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as fh:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer"}, fh, indent=2)
        fh.write("\n")
    return sum(t.numel() for t in sd.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--corpus", required=True, help="a text file, or a directory searched for *.md files")
    ap.add_argument("--hidden", type=int, default=1536)
    ap.add_argument("--ffn", type=int, default=4096)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=32002)
    ap.add_argument("--tokenizer-vocab", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    train_tokenizer(a.out_dir, a.corpus, a.tokenizer_vocab)
    n = write_checkpoint(a.out_dir, a)
    print(f"{a.out_dir}: {n / 1e6:.1f}M parameters, tokenizer vocab {a.tokenizer_vocab} (model vocab {a.vocab})")


if __name__ == "__main__":
    main()
