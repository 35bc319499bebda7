#!/usr/bin/env python3
"""A random-weight DQT checkpoint of a given shape (default: the 700M BitNet b1.58-large shape:
hidden 1536, FFN 4096, 24 layers, 16 heads, vocab 32002, tied embeddings, SiLU, sub-norms), for
memory and speed measurements of dqt-run / dqt-tune:

    python tools/make_random_checkpoint.py /tmp/ckpt700m
    dqt-convert /tmp/ckpt700m /tmp/m700.dqt

Weights: tools/dqt_torch.py init (N(0, 0.02), absmean ternary codes); the tokenizer is the
dqt-ternary fixture's (384 tokens; the model's vocabulary may be larger).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from dqt_torch import DQTConfig, DQTForCausalLM, save_hf  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--hidden", type=int, default=1536)
ap.add_argument("--ffn", type=int, default=4096)
ap.add_argument("--layers", type=int, default=24)
ap.add_argument("--heads", type=int, default=16)
ap.add_argument("--kv-heads", type=int, default=16)
ap.add_argument("--vocab", type=int, default=32002)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
cfg = DQTConfig(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn, num_hidden_layers=a.layers,
                num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, max_position_embeddings=2048,
                hidden_act="silu", tie_word_embeddings=True, sub_norms=True)
model = DQTForCausalLM(cfg).init_weights(seed=a.seed)
save_hf(model, a.out, tokenizer_json=os.path.join(os.path.dirname(HERE), "Tests", "Fixtures", "dqt-ternary", "tokenizer.json"))
print(f"wrote {a.out}")
