"""GGUF fixtures for dqt-convert's GGUF importer (Tests/Fixtures/gguf/), and the cross-check.

    python tools/make_gguf_fixtures.py --llama-cpp DIR [--dqt-bin .build/release] [--out Tests/Fixtures/gguf]

DIR is llama.cpp's source (vendor/llama.cpp of the llama-cpp-python sdist, as tools/bench.py
fetches it); its convert_hf_to_gguf.py and gguf-py write and read every file except the I2_S
ones. Nothing of llama.cpp is copied into the repository: only the files it writes.

Files (all tiny, random weights, tied embeddings):
  bitnet-tq2_0.gguf, bitnet-tq1_0.gguf   llama.cpp's converter, --outtype tq2_0 / tq1_0, from a
      1bitLLM-layout BitnetForCausalLM checkpoint (hidden 256 — TQ blocks are 256 values along
      the input dimension —, FFN 256, 2 layers, 4 heads / 2 KV heads, SentencePiece BPE, 384
      tokens) holding latent float weights, which the converter ternarizes (absmean) itself.
  bitnet-f16.gguf       the same converter, --outtype f16, from a smaller checkpoint (hidden 64).
  bitnet-gpt2-f16.gguf  as bitnet-f16 but with a byte-level BPE tokenizer (the converter is told
      the pre-tokenizer is "gpt-2": it refuses vocabularies it does not know by hash).
  bitnet-i2_s-x86.gguf, bitnet-i2_s-arm.gguf  written here by an independent writer from
      bitnet.cpp's description of I2_S (src/ggml-bitnet-mad.cpp quantize_i2_s, ggml_nbytes):
      the tensors of bitnet-tq2_0.gguf with every linear as I2_S (2-bit codes in 128-value
      blocks of 32 bytes (x86) or 64-value blocks of 16 bytes (ARM), value j of a block in byte
      j % (block/4) at bits 6 − 2·(j / (block/4)), code + 1; then the f32 scale and 28 zero
      bytes). No bitnet.cpp-written file could be obtained here.
  decoders.gguf  gguf-py-written random blocks of Q4_0, Q8_0, Q4_K, Q6_K, TQ1_0, TQ2_0, F16,
      F32, BF16 (golden.json "decoders": hashes of gguf-py's dequantization).
  golden.json  per file: XXH64 of every tensor dequantized by gguf-py to little-endian f32
      (I2_S: by this script's own decoder), the ids SentencePiece / HF tokenizers give for test
      texts, and the greedy tokens of the independent path: gguf-py dequantizes the GGUF into a
      1bitLLM-layout safetensors checkpoint (+ the source tokenizer files), and the PyTorch
      reference (dqt_torch.py, exact path) generates from it. With --dqt-bin, dqt-convert also
      converts that checkpoint (its safetensors reader, not the GGUF one) and the GGUF, and the
      two .dqt files are compared tensor by tensor.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import runpy
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from dqt_file import xxh64  # noqa: E402

TEXTS = [
    "Once upon a time, the model read a GGUF file.",
    "Ternary weights: -1, 0 and +1; two  spaces, tabs\tand a newline\nhere.",
    "dqt-convert model.gguf model.dqt — Unicode: é, ß, 東京, 🙂",
]
PROMPT_LEN = 8          # random prompt ids after bos (id 1; the byte-level fixture's 1 is an ordinary token)
GREEDY_TOKENS = 16
MIN_MARGIN = 0.05


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


# MARK: - source checkpoints

def train_sentencepiece(out_dir: str, vocab: int) -> None:
    import sentencepiece as spm
    root = os.path.dirname(HERE)
    text = os.path.join(out_dir, "corpus.txt")
    with open(text, "w", encoding="utf-8") as out:
        for f in sorted(glob.glob(os.path.join(root, "formats", "*.md"))) + [os.path.join(root, "README.md")]:
            out.write(open(f, encoding="utf-8").read() + "\n")
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=os.path.join(out_dir, "tokenizer"), vocab_size=vocab, model_type="bpe",
        byte_fallback=True, character_coverage=0.9995, normalization_rule_name="identity",
        remove_extra_whitespaces=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        max_sentence_length=1 << 16, minloglevel=2)
    os.remove(os.path.join(out_dir, "tokenizer.vocab"))
    os.remove(text)


def write_checkpoint(out_dir: str, hidden: int, ffn: int, layers: int, heads: int, kv_heads: int, vocab: int,
                     seed: int) -> None:
    """1bitLLM BitnetForCausalLM layout, f32, latent (non-ternary) linear weights."""
    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(seed)
    hd = hidden // heads

    def randn(*shape, scale=0.05):
        return (torch.randn(*shape, generator=g) * scale).contiguous()

    def gain(n):
        return (1 + 0.1 * torch.randn(n, generator=g)).contiguous()

    sd = {"model.embed_tokens.weight": randn(vocab, hidden, scale=0.05), "model.norm.weight": gain(hidden)}
    for l in range(layers):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = gain(hidden)
        sd[p + "post_attention_layernorm.weight"] = gain(hidden)
        sd[p + "self_attn.q_proj.weight"] = randn(heads * hd, hidden)
        sd[p + "self_attn.k_proj.weight"] = randn(kv_heads * hd, hidden)
        sd[p + "self_attn.v_proj.weight"] = randn(kv_heads * hd, hidden)
        sd[p + "self_attn.o_proj.weight"] = randn(hidden, heads * hd)
        sd[p + "self_attn.inner_attn_ln.weight"] = gain(heads * hd)
        sd[p + "mlp.gate_proj.weight"] = randn(ffn, hidden)
        sd[p + "mlp.up_proj.weight"] = randn(ffn, hidden)
        sd[p + "mlp.down_proj.weight"] = randn(hidden, ffn)
        sd[p + "mlp.ffn_layernorm.weight"] = gain(ffn)
    save_file(sd, os.path.join(out_dir, "model.safetensors"))
    config = {
        "architectures": ["BitnetForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden,
        "intermediate_size": ffn, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": True,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }
    json.dump(config, open(os.path.join(out_dir, "config.json"), "w"), indent=2)


def convert(llama_cpp: str, ckpt: str, out: str, outtype: str, gpt2: bool = False) -> None:
    """llama.cpp's convert_hf_to_gguf.py, in this process (so the gpt2 variant can be patched in)."""
    sys.path.insert(0, llama_cpp)
    sys.path.insert(1, os.path.join(llama_cpp, "gguf-py"))
    if gpt2:
        import conversion.base as base
        import conversion.bitnet as bitnet
        # BitnetModel always reads tokenizer.model; this checkpoint has a byte-level BPE
        # tokenizer.json, whose pre-tokenizer the converter only knows by a hash of known models.
        bitnet.BitnetModel.set_vocab = base.TextModel._set_vocab_gpt2
        base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", ckpt, "--outtype", outtype, "--outfile", out]
    try:
        runpy.run_path(os.path.join(llama_cpp, "convert_hf_to_gguf.py"), run_name="__main__")
    finally:
        sys.argv = argv


# MARK: - independent I2_S writer (GGUF container written by hand)

def i2s_pack(codes: np.ndarray, layout: str) -> bytes:
    """Ternary codes (flattened, −1…1) → bitnet.cpp I2_S bytes (without the scale tail)."""
    block = 128 if layout == "x86" else 64
    q = (codes.reshape(-1).astype(np.int16) + 1).astype(np.uint8)
    assert q.size % block == 0
    group = block // 4
    out = np.zeros(q.size // 4, dtype=np.uint8)
    for i in range(q.size):
        b, j = divmod(i, block)
        out[b * group + j % group] |= q[i] << (6 - 2 * (j // group))
    return out.tobytes()


def i2s_unpack(raw: bytes, n: int, layout: str) -> np.ndarray:
    block = 128 if layout == "x86" else 64
    group = block // 4
    b = np.frombuffer(raw, dtype=np.uint8)
    out = np.empty(n, dtype=np.int8)
    for i in range(n):
        k, j = divmod(i, block)
        out[i] = int((b[k * group + j % group] >> (6 - 2 * (j // group))) & 3) - 1
    return out


def gguf_string(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def write_gguf_by_hand(path: str, kvs: list[tuple[str, int, bytes]], tensors: list[tuple[str, list[int], int, bytes]],
                       alignment: int = 32) -> None:
    """kvs: (key, gguf value type, encoded value); tensors: (name, ggml dims ne[0..], ggml type, bytes)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        head += gguf_string(k.encode()) + struct.pack("<I", t) + v
    offset = 0
    for name, dims, t, data in tensors:
        head += gguf_string(name.encode()) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", t, offset)
        offset += len(data) + (-len(data)) % alignment
    head += b"\0" * ((-len(head)) % alignment)
    with open(path, "wb") as f:
        f.write(head)
        for _, _, _, data in tensors:
            f.write(data + b"\0" * ((-len(data)) % alignment))


def encode_kv_value(field) -> tuple[int, bytes]:
    """Re-encodes a gguf-py ReaderField's value exactly as stored (its raw parts)."""
    types = [int(t) for t in field.types]
    raw = b"".join(bytes(p.tobytes()) for p in field.parts[1 + 1 + 1:])  # after key length, key, type
    return types[0], raw


def write_i2s(src: str, out: str, layout: str, llama_cpp: str) -> None:
    sys.path.insert(0, os.path.join(llama_cpp, "gguf-py"))
    import gguf
    r = gguf.GGUFReader(src)
    kvs = []
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        t, raw = encode_kv_value(field)
        if name == "general.file_type":
            raw = struct.pack("<I", 40)   # LLAMA_FTYPE_MOSTLY_I2_S, as bitnet.cpp's converter writes
        kvs.append((name, t, raw))
    tensors = []
    for t in r.tensors:
        dims = [int(x) for x in t.shape]
        if t.tensor_type == gguf.GGMLQuantizationType.TQ2_0:
            v = gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1)
            nz = np.abs(v[v != 0])
            scale = np.float32(nz[0]) if nz.size else np.float32(1)
            assert np.all(nz == scale), f"{t.name}: not one scale"
            codes = np.rint(v / scale).astype(np.int8)
            data = i2s_pack(codes, layout) + struct.pack("<f", scale) + b"\0" * 28
            tensors.append((t.name, dims, 36, data))
        else:
            tensors.append((t.name, dims, int(t.tensor_type), bytes(t.data.tobytes())))
    write_gguf_by_hand(out, kvs, tensors)


# MARK: - independent read: gguf-py dequantization → safetensors checkpoint

GGUF_TO_HF = {
    "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
    "attn_sub_norm": "self_attn.inner_attn_ln", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "ffn_sub_norm": "mlp.ffn_layernorm",
}


def dequantized(path: str, llama_cpp: str) -> dict[str, np.ndarray]:
    """Every tensor as f32 in its row-major shape (gguf-py; I2_S by this script's decoder)."""
    sys.path.insert(0, os.path.join(llama_cpp, "gguf-py"))
    import gguf
    layout = "arm" if path.endswith("-arm.gguf") else "x86"
    # gguf-py does not know type 36: read the container by hand for those files.
    if "i2_s" in os.path.basename(path):
        return read_i2s_by_hand(path, layout)
    r = gguf.GGUFReader(path)
    out = {}
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        v = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        out[t.name] = v
    return out


def read_i2s_by_hand(path: str, layout: str) -> dict[str, np.ndarray]:
    data = open(path, "rb").read()
    pos = 4
    version, nt, nkv = struct.unpack_from("<IQQ", data, pos); pos += 20
    sizes = {0: 4, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(t, pos):
        if t == 8:
            n, = struct.unpack_from("<Q", data, pos); return pos + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", data, pos); pos += 12
            for _ in range(n):
                pos = skip_value(et, pos)
            return pos
        return pos + sizes[t]
    for _ in range(nkv):
        n, = struct.unpack_from("<Q", data, pos); pos += 8 + n
        t, = struct.unpack_from("<I", data, pos); pos += 4
        pos = skip_value(t, pos)
    infos = []
    for _ in range(nt):
        n, = struct.unpack_from("<Q", data, pos); name = data[pos + 8:pos + 8 + n].decode(); pos += 8 + n
        nd, = struct.unpack_from("<I", data, pos); pos += 4
        dims = list(struct.unpack_from("<" + "Q" * nd, data, pos)); pos += 8 * nd
        t, off = struct.unpack_from("<IQ", data, pos); pos += 12
        infos.append((name, dims, t, off))
    start = pos + (-pos) % 32
    out = {}
    for name, dims, t, off in infos:
        n = int(np.prod(dims))
        shape = list(reversed(dims))
        base = start + off
        if t == 36:
            codes = i2s_unpack(data[base:base + n // 4], n, layout)
            scale = np.frombuffer(data[base + n // 4:base + n // 4 + 4], dtype="<f4")[0]
            out[name] = (codes.astype(np.float32) * scale).reshape(shape)
        elif t == 0:
            out[name] = np.frombuffer(data[base:base + 4 * n], dtype="<f4").astype(np.float32).reshape(shape)
        elif t == 1:
            out[name] = np.frombuffer(data[base:base + 2 * n], dtype="<f2").astype(np.float32).reshape(shape)
        else:
            raise SystemExit(f"{name}: type {t} not expected in an I2_S fixture")
    return out


def independent_checkpoint(values: dict[str, np.ndarray], src_ckpt: str, out_dir: str) -> None:
    from safetensors.numpy import save_file
    os.makedirs(out_dir, exist_ok=True)
    sd = {}
    for name, v in values.items():
        if name in GGUF_TO_HF:
            sd[GGUF_TO_HF[name]] = v
            continue
        _, l, part, _ = name.split(".")
        sd[f"model.layers.{l}.{GGUF_TO_HF[part]}.weight"] = v
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}, os.path.join(out_dir, "model.safetensors"))
    for f in ("config.json", "tokenizer.model", "tokenizer.json"):
        if os.path.exists(os.path.join(src_ckpt, f)):
            shutil.copy(os.path.join(src_ckpt, f), out_dir)


def greedy(ckpt: str) -> tuple[list[int], list[int], float]:
    """A prompt whose greedy continuation by the PyTorch reference (tools/dqt_torch.py, exact
    path) keeps a top-1/top-2 logit margin of at least MIN_MARGIN at every step (random weights
    give near-ties; two correct float32 implementations differ by ~1e-2, tools/README.md), the
    tokens, and the margin."""
    import torch
    from dqt_torch import load_hf
    model = load_hf(ckpt).set_exact(True).eval()
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    best = None
    for _ in range(200):
        prompt = [1] + [int(x) for x in torch.randint(3, vocab, (PROMPT_LEN,), generator=g)]
        ids, out, margin = list(prompt), [], float("inf")
        with torch.no_grad():
            for _ in range(GREEDY_TOKENS):
                lg = model(torch.tensor([ids]))[0, -1]
                top = torch.topk(lg, 2).values
                margin = min(margin, float(top[0] - top[1]))
                out.append(int(torch.argmax(lg)))
                ids.append(out[-1])
        if best is None or margin > best[2]:
            best = (prompt, out, margin)
        if margin >= MIN_MARGIN:
            break
    return best


def same_tensors(dqt_bin: str, gguf: str, indep: str, work: str) -> str:
    """dqt-convert of the GGUF and of the independent checkpoint: tensor by tensor (codes,
    scales, values) equal? (A local check; the committed goldens carry the CI check.)"""
    from dqt_file import DqtFile
    a, b = os.path.join(work, "a.dqt"), os.path.join(work, "b.dqt")
    layout = ["--i2s-layout", "arm"] if gguf.endswith("-arm.gguf") else []
    run([os.path.join(dqt_bin, "dqt-convert"), gguf, a, "--quiet"] + layout)
    run([os.path.join(dqt_bin, "dqt-convert"), indep, b, "--quiet"])
    fa, fb = DqtFile(a), DqtFile(b)
    for name in fa.tensors:
        ta, tb = fa.tensors[name], fb.tensors[name]
        if ta.encoding != tb.encoding:
            return f"{name}: {ta.encoding} vs {tb.encoding}"
        if ta.encoding in ("t2", "t1", "i8"):
            (ca, sa), (cb, sb) = fa.codes(name), fb.codes(name)
            if sa != sb or not bool((ca == cb).all()):
                return f"{name}: codes or scale differ ({sa} vs {sb})"
        elif not bool((fa.values(name) == fb.values(name)).all()):
            return f"{name}: values differ"
    return "identical"


def reference_ids(ckpt: str) -> list[list[int]]:
    if os.path.exists(os.path.join(ckpt, "tokenizer.model")):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(ckpt, "tokenizer.model"))
        return [[sp.bos_id()] + sp.encode(t) for t in TEXTS]
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(ckpt, "tokenizer.json"))
    return [tok.encode(t).ids for t in TEXTS]


def write_decoders(out: str, llama_cpp: str) -> dict[str, str]:
    """decoders.gguf: random blocks of every type the reader decodes (block scales set to finite
    f16 values; TQ2_0 codes kept below 3), written by gguf-py; returns the hashes of gguf-py's
    dequantization of each tensor."""
    sys.path.insert(0, os.path.join(llama_cpp, "gguf-py"))
    import gguf
    Q = gguf.GGMLQuantizationType
    rng = np.random.default_rng(5)
    w = gguf.GGUFWriter(out, "decoders")
    values = {}
    for qt, nblocks in ((Q.Q4_0, 8), (Q.Q8_0, 8), (Q.Q4_K, 3), (Q.Q6_K, 3), (Q.TQ1_0, 3), (Q.TQ2_0, 3)):
        bs, ts = gguf.GGML_QUANT_SIZES[qt]
        raw = rng.integers(0, 256, size=(nblocks, ts), dtype=np.uint8)
        halves = rng.uniform(-2, 2, size=(nblocks, 2)).astype(np.float16).view(np.uint8)
        if qt in (Q.Q4_0, Q.Q8_0):
            raw[:, 0:2] = halves[:, 0:2]
        elif qt == Q.Q4_K:
            raw[:, 0:4] = np.abs(rng.uniform(0, 2, size=(nblocks, 2))).astype(np.float16).view(np.uint8)
        elif qt == Q.Q6_K:
            raw[:, ts - 2:ts] = halves[:, 0:2]
        elif qt == Q.TQ1_0:
            raw[:, ts - 2:ts] = halves[:, 0:2]
        elif qt == Q.TQ2_0:
            q = rng.integers(0, 3, size=(nblocks, 64, 4), dtype=np.uint8)   # no 2-bit field equals 3
            raw[:, :64] = q[..., 0] | (q[..., 1] << 2) | (q[..., 2] << 4) | (q[..., 3] << 6)
            raw[:, 64:66] = halves[:, 0:2]
        name = qt.name.lower()
        w.add_tensor(name, raw.reshape(-1), raw_dtype=qt)
        values[name] = gguf.quants.dequantize(raw.reshape(-1), qt).astype(np.float32)
    for dt, qt in ((np.float16, Q.F16), (np.float32, Q.F32)):
        v = rng.standard_normal(37).astype(dt)
        w.add_tensor(qt.name.lower(), v, raw_dtype=qt)
        values[qt.name.lower()] = v.astype(np.float32)
    bf = (rng.standard_normal(19).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("bf16", bf.view(np.uint8), raw_dtype=Q.BF16)
    values["bf16"] = (bf.astype(np.uint32) << 16).view(np.float32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensor_hashes(values)


def tensor_hashes(values: dict[str, np.ndarray]) -> dict[str, str]:
    """XXH64 of each tensor's little-endian f32 bytes, −0.0 counted as +0.0 (a float source
    may hold −0.0 where a code 0 times a scale gives +0.0: the same value)."""
    return {k: format(xxh64((np.ascontiguousarray(v, dtype="<f4") + np.float32(0)).tobytes()), "016x")
            for k, v in sorted(values.items())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", required=True)
    ap.add_argument("--dqt-bin", help="folder with dqt-convert: also compare its two conversions (GGUF, independent)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "Tests", "Fixtures", "gguf"))
    ap.add_argument("--rehash", action="store_true", help="only recompute the tensor hashes of golden.json from the files in --out")
    a = ap.parse_args()
    if a.rehash:
        path = os.path.join(a.out, "golden.json")
        golden = json.load(open(path))
        golden["decoders"] = write_decoders(os.path.join(a.out, "decoders.gguf"), a.llama_cpp)
        for name in golden["files"]:
            golden["files"][name]["tensors"] = tensor_hashes(dequantized(os.path.join(a.out, name), a.llama_cpp))
        json.dump(golden, open(path, "w"), indent=1)
        return
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="dqt-gguf-")
    big, small, bpe = (os.path.join(work, d) for d in ("big", "small", "bpe"))
    for d in (big, small, bpe):
        os.makedirs(d)
    train_sentencepiece(big, 400)
    shutil.copy(os.path.join(big, "tokenizer.model"), small)
    write_checkpoint(big, hidden=256, ffn=256, layers=2, heads=4, kv_heads=2, vocab=400, seed=1)
    write_checkpoint(small, hidden=64, ffn=128, layers=2, heads=4, kv_heads=2, vocab=400, seed=2)
    write_checkpoint(bpe, hidden=64, ffn=128, layers=2, heads=4, kv_heads=2, vocab=384, seed=3)
    shutil.copy(os.path.join(os.path.dirname(HERE), "Tests", "Fixtures", "dqt-ternary", "tokenizer.json"), bpe)
    cfg = json.load(open(os.path.join(bpe, "config.json")))
    cfg["bos_token_id"] = cfg["eos_token_id"] = 0   # <|endoftext|> = id 0 in that tokenizer
    json.dump(cfg, open(os.path.join(bpe, "config.json"), "w"), indent=2)

    files = {
        "bitnet-tq2_0.gguf": (big, "tq2_0"), "bitnet-tq1_0.gguf": (big, "tq1_0"),
        "bitnet-f16.gguf": (small, "f16"), "bitnet-gpt2-f16.gguf": (bpe, "f16"),
    }
    for name, (ckpt, t) in files.items():
        convert(a.llama_cpp, ckpt, os.path.join(a.out, name), t, gpt2=name.startswith("bitnet-gpt2"))
    for layout in ("x86", "arm"):
        name = f"bitnet-i2_s-{layout}.gguf"
        write_i2s(os.path.join(a.out, "bitnet-tq2_0.gguf"), os.path.join(a.out, name), layout, a.llama_cpp)
        files[name] = (big, "i2_s")

    golden = {"texts": TEXTS, "files": {}}
    for name, (ckpt, _) in files.items():
        values = dequantized(os.path.join(a.out, name), a.llama_cpp)
        indep = os.path.join(work, "indep-" + name)
        independent_checkpoint(values, ckpt, indep)
        prompt, tokens, margin = greedy(indep)
        golden["files"][name] = {
            "tensors": tensor_hashes(values),
            "reference_ids": reference_ids(ckpt),
            "prompt": prompt,
            "greedy": tokens,
            "min_greedy_margin": round(margin, 4),
        }
        print(f"{name}: greedy {tokens}, min margin {margin:.4f}", file=sys.stderr)
        if a.dqt_bin:
            print(f"{name}: dqt-convert GGUF vs independent checkpoint: {same_tensors(a.dqt_bin, os.path.join(a.out, name), indep, work)}",
                  file=sys.stderr)
    golden["decoders"] = write_decoders(os.path.join(a.out, "decoders.gguf"), a.llama_cpp)
    json.dump(golden, open(os.path.join(a.out, "golden.json"), "w"), indent=1)
    shutil.rmtree(work)
    for f in sorted(os.listdir(a.out)):
        print(f"{f}: {os.path.getsize(os.path.join(a.out, f))} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
