#!/usr/bin/env python3
"""Writes the regression corpus tools/fuzz/regressions/TARGET/ and its expectations
tools/fuzz/regressions/expected.tsv. Run from the repository root; the files are committed.

Each regression is a committed input with the outcome a parser must give: the inputs that once
crashed a target (see KEPT) and, for every target, small inputs that reach each kind of error,
derived from the seed corpus by one named edit. A file that exists is never rewritten (the seeds
change; the regression stays what it was); delete it to derive it again. The test
suite replays them (Tests/*/FuzzRegressionTests.swift) and tools/fuzz.sh feeds them to libFuzzer
as extra seeds.

expected.tsv, tab-separated: target, file, outcome, kind, field, offset. The outcome is `accepted`
or `error`; for an error, kind is the DQTFormatError kind (dqt, lz4; `-` elsewhere), field the
error's field exactly, offset the byte offset it names (`-`: the error type has none). The expectations
are written here by hand for the check each edit aims at; each was then checked against the
parser's message (which names the same check), so a change of outcome is a change to review.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dqt_file import xxh64  # noqa: E402  (pure-Python XXH64; the module imports torch)

CORPUS = "tools/fuzz/corpus"
OUT = "tools/fuzz/regressions"

# Crashers found by the fuzzers, fixed, kept as they were found (git log: 332acf6, 2f5d8bc).
KEPT = [
    ("tokenizer-model", "nan-score.model", "error\t-\tpieces[7].score\t-"),
    ("tokenizer-model", "huge-model-type.model", "error\t-\ttrainer_spec\t-"),
]


def seed(target, name):
    with open(os.path.join(CORPUS, target, name), "rb") as f:
        return bytearray(f.read())


def u32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def u64(b, at):
    return struct.unpack_from("<Q", b, at)[0]


def put32(b, at, v):
    struct.pack_into("<I", b, at, v)


def put64(b, at, v):
    struct.pack_into("<Q", b, at, v)


# MARK: - .dqt (formats/dqt.md: 64-byte header, 64-byte section entries, tensor records of 128)

def sections(b):
    return [struct.unpack_from("<IIQQQQII", b, 64 + 64 * i) for i in range(u32(b, 24))]


def entry(i):
    return 64 + 64 * i


def first(b, kind):
    return next(i for i, s in enumerate(sections(b)) if s[0] == kind)


def resign(b, header_only=False):
    """Recomputes the section checksums (unless header_only), then the header checksum."""
    if not header_only:
        for i, s in enumerate(sections(b)):
            put64(b, entry(i) + 32, xxh64(bytes(b[s[2]:s[2] + s[3]])))
    put64(b, 40, 0)
    put64(b, 40, xxh64(bytes(b[:64 * (u32(b, 24) + 1)])))


def record(b, r):
    """Byte offset of tensor record r (raw TENSOR_INDEX)."""
    return sections(b)[first(b, 3)][2] + 16 + 128 * r


def dqt_cases():
    i8 = seed("dqt", "i8-raw.dqt")      # every section raw; q/k/v/o/gate/up/down i8 on [-4, 3]
    lz = seed("dqt", "t2-lz4.dqt")      # TOKENIZER (section 1) LZ4-compressed
    spec = sections(i8)[0][2]
    out = []

    def case(name, b, kind, field, offset):
        out.append((name, bytes(b), f"error\t{kind}\t{field}\t{offset}"))

    case("empty.dqt", b"", "truncated", "header", 0)
    b = i8[:64]; b[1] = ord("X")
    case("bad-magic.dqt", b, "badMagic", "header.magic", 0)
    b = i8[:]; b[8] = 2                                   # version_major 2, header not re-signed
    case("future-major-version.dqt", b, "unsupportedVersion", "header.version", 8)
    b = i8[:]; put32(b, 24, 65535)                        # a table of 65535 entries cannot fit
    case("section-count-huge.dqt", b, "truncated", "section_table", 64)
    b = i8[:]; put64(b, 16, len(b) + 64)
    case("file-length-too-large.dqt", b, "badHeader", "header.file_length", 16)
    b = i8[:]; put64(b, entry(3) + 8, u64(b, entry(3) + 8) - 64); resign(b, header_only=True)
    case("section-overlaps.dqt", b, "badSectionTable", "section[3].offset", entry(3) + 8)
    b = i8[:] + bytearray(64); put64(b, 16, len(b)); resign(b, header_only=True)
    case("trailing-bytes.dqt", b, "badSectionTable", "section_table", len(i8))
    b = i8[:]; b[sections(i8)[5][2] + 3] ^= 1              # k_proj's codes, checksum not updated
    case("flipped-bit-in-tensor.dqt", b, "checksumMismatch", "section[5] (TENSOR)", sections(i8)[5][2])
    # The reader once reserved the LZ4 arena before checking that a section could decode to its
    # raw_size (2a56dea): 257 x stored is more than LZ4 can expand to.
    b = lz[:]; s = sections(lz)[1]; put64(b, entry(1) + 24, s[3] * 257); resign(b, header_only=True)
    case("lz4-raw-size-bomb.dqt", b, "badCodec", "section[1].raw_size", entry(1) + 24)
    b = lz[:]; put64(b, entry(1) + 24, 1 << 63); resign(b, header_only=True)
    case("lz4-raw-size-2pow63.dqt", b, "tooLarge", "section[1].raw_size", entry(1) + 24)
    b = lz[:]; at = sections(lz)[1][2]; put32(b, at, u32(b, at) + 1); resign(b)
    case("lz4-chunk-raw-len-lies.dqt", b, "badCodec", "section[1].chunk[0].raw_len", at)
    b = i8[:]; put32(b, spec + 24, 3); resign(b)           # kv_heads 3 does not divide heads 2
    case("spec-heads-not-multiple-of-kv.dqt", b, "badSpec", "model_spec", spec)
    b = i8[:]; r = record(b, 2); put64(b, r + 8, 1 << 40); put64(b, r + 16, 1 << 40); resign(b)
    case("tensor-dims-overflow.dqt", b, "tooLarge", 'tensor_index.tensor "layers.0.q_proj".shape', r + 8)
    b = i8[:]; a, c = record(b, 2), record(b, 3); b[c + 40:c + 128] = b[a + 40:a + 128]; resign(b)
    case("duplicate-tensor-name.dqt", b, "badTensorIndex", "tensor_index.record[3].name", c + 42)
    b = i8[:]; q = sections(i8)[4][2]; b[q + 9] = 5; resign(b)   # q_proj code 5 on the grid [-4, 3]
    case("i8-code-outside-grid.dqt", b, "badTensor", 'tensor "layers.0.q_proj"', q + 9)
    b = i8[:]; n = sections(i8)[3][2]; put32(b, n + 4, 0x7FC00000); resign(b)  # attn_norm[1] = NaN
    case("norm-nan.dqt", b, "badTensor", 'tensor "layers.0.attn_norm"[1]', n + 4)
    return out


# MARK: - LZ4 section codec (the fuzz target's input: mode byte, 18-bit raw size, payload)

def lz4_cases():
    text = seed("lz4", "decode-text")           # mode 0, raw size 0x000708 = 1800, one chunk
    out = []

    def case(name, b, field, offset):
        out.append((name, bytes(b), f"error\tbadCodec\t{field}\t{offset}" if field else "accepted"))

    out.append(("text-as-seeded", bytes(text), "accepted"))
    b = text[:]; put32(b, 4, u32(b, 4) + 1)
    case("chunk-raw-len-lies", b, "section.chunk[0].raw_len", 0)
    b = text[:]; put32(b, 8, 0)
    case("chunk-comp-len-zero", b, "section.chunk[0].comp_len", 4)
    b = text[:]; put32(b, 8, 0x7FFFFFF0)
    case("chunk-comp-len-above-bound", b, "section.chunk[0].comp_len", 4)
    b = text[:]; b[12:28] = b"\xf0" * 16
    case("chunk-garbage-block", b, "section.chunk[0].block", 8)
    b = text[:] + bytearray(b"\0\0\0")
    case("trailing-bytes", b, "section.trailing", len(text) - 4)
    out.append(("chunk-header-cut", bytes(text[:4 + 6]), "error\ttruncated\tsection.chunk[0].comp_len\t4"))
    return out


# MARK: - safetensors (u64 header length, JSON header, data that the offsets tile exactly)

def st(header, data=b"", length=None):
    h = header.encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def safetensors_cases():
    two = seed("safetensors", "two-tensors.safetensors")
    out = [("two-tensors-as-seeded", bytes(two), "accepted")]

    def case(name, b, field, offset="-"):
        out.append((name, bytes(b), f"error\t-\t{field}\t{offset}"))

    case("empty", b"", "header_length", 0)
    case("header-length-past-end", st("{}", length=1000), "header_length", 0)
    case("header-length-huge", struct.pack("<Q", 1 << 62) + b"{}", "header_length", 0)
    case("header-not-json", st("{\"a\":"), "header", 8)
    case("header-not-object", st("[1, 2]"), "header", 8)
    case("unknown-dtype", st('{"w":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}}', bytes(4)), "w.dtype")
    case("offsets-leave-hole", st('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)), "w.data_offsets", 66)
    case("shape-bytes-mismatch", st('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', bytes(4)), "w.data_offsets")
    case("shape-product-overflows",
         st('{"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}', bytes(4)), "w.shape")
    case("bytes-after-last-tensor", two + bytearray(4), "data", len(two))
    return out


# MARK: - GGUF (magic, version, tensor and key-value counts, typed key-values, tensor infos, data)

GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_layout(b):
    """(offset of each key-value, offset of each tensor info) of a GGUF v3 file."""
    pos = 24
    def skip_value(t):
        nonlocal pos
        if t == 8:
            pos += 8 + u64(b, pos)
        elif t == 9:
            et, n = u32(b, pos), u64(b, pos + 4)
            pos += 12
            for _ in range(n):
                skip_value(et)
        else:
            pos += GGUF_SIZES[t]
    kvs, infos = [], []
    for _ in range(u64(b, 16)):
        kvs.append(pos)
        pos += 8 + u64(b, pos)
        t = u32(b, pos); pos += 4
        skip_value(t)
    for _ in range(u64(b, 8)):
        infos.append(pos)
        pos += 8 + u64(b, pos)
        nd = u32(b, pos); pos += 4 + 8 * nd + 4 + 8
    return kvs, infos


def gguf_cases():
    g = seed("gguf", "llama-q8_0-gpt2.gguf")
    kvs, infos = gguf_layout(g)
    out = [("llama-q8_0-gpt2-as-seeded.gguf", bytes(g), "accepted")]

    def case(name, b, field, offset):
        out.append((name, bytes(b), f"error\t-\t{field}\t{offset}"))

    def info(b, i):
        """(name, offset of n_dims, of the type, of the data offset) of tensor info i."""
        at = infos[i]
        n = u64(b, at)
        name = bytes(b[at + 8:at + 8 + n]).decode()
        nd_at = at + 8 + n
        type_at = nd_at + 4 + 8 * u32(b, nd_at)
        return name, nd_at, type_at, type_at + 4

    case("empty.gguf", b"", "magic", 0)
    b = g[:]; b[0] = ord("X")
    case("bad-magic.gguf", b, "magic", 0)
    b = g[:]; put32(b, 4, 99)
    case("version-99.gguf", b, "version", 4)
    b = g[:]; put32(b, 4, 0x03000000)                     # version 3 big-endian
    case("big-endian.gguf", b, "version", 4)
    b = g[:]; put64(b, 8, 1 << 40)
    case("tensor-count-huge.gguf", b, "tensor_count", 8)
    b = g[:]; put64(b, 16, len(g))                        # more key-values than bytes
    case("kv-count-past-end.gguf", b, "kv_count", 16)
    b = g[:]; put32(b, kvs[0] + 8 + u64(g, kvs[0]), 77)    # key-value 0: value type 77
    key0 = bytes(g[kvs[0] + 8:kvs[0] + 8 + u64(g, kvs[0])]).decode()
    case("kv-unknown-type.gguf", b, f"{key0}.type", kvs[0] + 8 + u64(g, kvs[0]))
    name, nd_at, type_at, off_at = info(g, 0)
    b = g[:]; put32(b, nd_at, 9)
    case("tensor-ndims-9.gguf", b, f"{name}.n_dims", nd_at)
    b = g[:]; put32(b, type_at, 250)
    case("tensor-unknown-type.gguf", b, f"{name}.type", type_at)
    b = g[:]; put64(b, off_at, 1 << 50)
    case("tensor-offset-past-end.gguf", b, f"{name}.offset", off_at)
    b = g[:]; put64(b, off_at, u64(g, off_at) + 1)
    case("tensor-offset-misaligned.gguf", b, f"{name}.offset", off_at)
    case("cut-in-tensor-info.gguf", g[:infos[0] + 4], "tensor[0].name length", infos[0])
    return out


# MARK: - tokenizer.json and tokenizer.model (the importers)

def tokenizer_json_cases():
    gpt2 = seed("tokenizer-json", "bytelevel-gpt2.json").decode()
    out = [("bytelevel-gpt2-as-seeded.json", gpt2.encode(), "accepted")]

    def case(name, text, field):
        out.append((name, text.encode(), f"error\t-\t{field}\t-"))

    case("empty.json", "", "(json)")
    case("not-an-object.json", "[]", "model")
    case("truncated.json", gpt2[: len(gpt2) // 2], "(json)")
    def edit(old, new):
        assert old in gpt2, old
        return gpt2.replace(old, new, 1)

    case("model-unigram.json", edit('"model":{"type":"BPE"', '"model":{"type":"Unigram"'), "model.type")
    case("merge-of-unknown-token.json", edit('"merges":[', '"merges":[["zz","qq"],'), "model.merges[0]")
    case("dropout.json", edit('"dropout":null', '"dropout":0.1'), "model.dropout")
    return out


def tokenizer_model_cases():
    plain = seed("tokenizer-model", "bpe-plain.model")
    out = [("bpe-plain-as-seeded.model", bytes(plain), "accepted")]
    out.append(("empty.model", b"", "error\t-\tpieces\t-"))  # a model without pieces
    out.append(("truncated-varint.model", bytes([0x0A, 0xFF]), "error\t-\tModelProto\t-"))
    out.append(("cut-in-half.model", bytes(plain[: len(plain) // 2]), "error\t-\tModelProto\t-"))
    return out


# MARK: - TOKENIZER payload (formats/dqt-tokenizer.md: 64-byte header, 10-entry table directory)

def tokenizer_payload_cases():
    g = seed("tokenizer-payload", "bytelevel-gpt2.bin")
    out = [("bytelevel-gpt2-as-seeded.bin", bytes(g), "accepted")]

    def case(name, b, field, offset):
        out.append((name, bytes(b), f"error\t-\t{field}\t{offset}"))

    case("empty.bin", b"", "header", 0)
    b = g[:]; b[3] = ord("X")
    case("bad-magic.bin", b, "magic", 0)
    b = g[:]; struct.pack_into("<H", b, 4, 2)
    case("version-major-2.bin", b, "version_major", 4)
    b = g[:]; put32(b, 12, 0)
    case("vocab-size-zero.bin", b, "vocab_size", 12)
    b = g[:]; put32(b, 28, u32(g, 12))                     # eos_id = V
    case("eos-out-of-range.bin", b, "eos_id", 28)
    b = g[:]; b[16] = 9
    case("unknown-model.bin", b, "model", 16)
    b = g[:]; put32(b, 64 + 8, u32(b, 64 + 8) + 8)          # table 1 starts 8 bytes late
    case("table-offset-gap.bin", b, "TOKEN_BYTES.offset", 72)
    case("cut-after-directory.bin", g[:144], "TOKEN_OFFSETS.size", 68)
    return out


def main():
    cases = [("dqt", dqt_cases()), ("lz4", lz4_cases()), ("safetensors", safetensors_cases()), ("gguf", gguf_cases()),
             ("tokenizer-json", tokenizer_json_cases()), ("tokenizer-model", tokenizer_model_cases()),
             ("tokenizer-payload", tokenizer_payload_cases())]
    lines = ["# target\tfile\toutcome\tkind\tfield\toffset   (written by tools/fuzz/make_regressions.py)"]
    for target, name, outcome in KEPT:
        assert os.path.exists(os.path.join(OUT, target, name)), name
        lines.append(f"{target}\t{name}\t{outcome}")
    for target, items in cases:
        os.makedirs(os.path.join(OUT, target), exist_ok=True)
        for name, data, outcome in items:
            path = os.path.join(OUT, target, name)
            if not os.path.exists(path):   # a committed regression is never rewritten (seeds change)
                with open(path, "wb") as f:
                    f.write(data)
            lines.append(f"{target}\t{name}\t{outcome}")
    with open(os.path.join(OUT, "expected.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines) - 1} regressions in {OUT}")


if __name__ == "__main__":
    main()
