"""A small reader of .dqt files (formats/dqt.md) for the Python tools.

    f = DqtFile("model.dqt")
    f.spec["hidden_size"], f.tensors["layers.0.q_proj"]   # TensorInfo
    codes, scale = f.codes("layers.0.q_proj")               # int8 [rows, cols], float
    values = f.values("embed")                               # float32 [rows, cols] (or [n])

Checks the header and section checksums (XXH64 is implemented here, no extra package) and
decodes every tensor encoding of §8, LZ4 sections included. Informative, not a conforming
reader: it trusts the structure a conforming writer produced.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import torch

MAGIC = b"\x89DQT\r\n\x1a\n"
ENCODINGS = {0: "f32", 1: "f16", 2: "bf16", 3: "i8", 4: "t2", 5: "t1", 6: "i8r"}

# MARK: - XXH64 (seed 0 by default)

_P1, _P2, _P3, _P4, _P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                           0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)
_M = (1 << 64) - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc, inp):
    return (_rotl((acc + inp * _P2) & _M, 31) * _P1) & _M


def xxh64(data: bytes, seed: int = 0) -> int:
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M, (seed + _P2) & _M, seed, (seed - _P1) & _M]
        words = np.frombuffer(data, dtype="<u8", count=(n // 32) * 4)
        for s in range(0, len(words), 4):
            for k in range(4):
                v[k] = _round(v[k], int(words[s + k]))
        i = (n // 32) * 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
        for k in range(4):
            h = ((h ^ _round(0, v[k])) * _P1 + _P4) & _M
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, i)[0])
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", data, i)[0] * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


# MARK: - file


@dataclass
class Section:
    kind: int
    codec: int
    offset: int
    stored: int
    raw: int
    checksum: int
    tensor: int
    writable: bool


@dataclass
class TensorInfo:
    name: str
    section: int
    encoding: str
    ndim: int
    qmin: int
    qmax: int
    rows: int
    cols: int
    scale: float
    trainable: bool


class DqtFile:
    def __init__(self, path: str, verify: bool = True):
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if d[:8] != MAGIC:
            raise ValueError(f"{path}: not a .dqt file")
        (self.version_major, self.version_minor, self.alignment, self.file_length, count, flags,
         self.commit, self.header_checksum) = struct.unpack_from("<HHIQIIQQ", d, 8)
        if self.file_length != len(d):
            raise ValueError(f"{path}: file_length {self.file_length} != size {len(d)}")
        block = bytearray(d[:64 * (count + 1)])
        block[40:48] = b"\0" * 8
        if verify and xxh64(bytes(block)) != self.header_checksum:
            raise ValueError(f"{path}: header checksum mismatch")
        self.sections = []
        for i in range(count):
            kind, codec, off, stored, raw, cs, tensor, fl = struct.unpack_from("<IIQQQQII", d, 64 + 64 * i)
            self.sections.append(Section(kind, codec, off, stored, raw, cs, tensor, bool(fl & 1)))
        if verify:
            for i, s in enumerate(self.sections):
                if xxh64(d[s.offset:s.offset + s.stored]) != s.checksum:
                    raise ValueError(f"{path}: section {i} checksum mismatch")
        self._payloads = {}
        spec = self.payload(next(i for i, s in enumerate(self.sections) if s.kind == 1))
        f = struct.unpack_from("<IIIIIIIIIIffII", spec, 0)
        flags2 = struct.unpack_from("<I", spec, 52)[0]
        self.spec = dict(spec_version=f[0], family=f[1], vocab_size=f[2], hidden_size=f[3], n_layers=f[4], n_heads=f[5],
                         n_kv_heads=f[6], head_dim=f[7], ffn_size=f[8], max_context=f[9], norm_eps=f[10],
                         rope_theta=f[11], activation=f[12], tied_head=bool(flags2 & 1), sub_norms=bool(flags2 & 2))
        index = self.payload(next(i for i, s in enumerate(self.sections) if s.kind == 3))
        n = struct.unpack_from("<I", index, 0)[0]
        self.tensors = {}
        for r in range(n):
            o = 16 + 128 * r
            sec, enc, ndim, qmin, qmax, rows, cols, scale, tflags, nbytes, nlen = struct.unpack_from("<IBBbbQQfIQH", index, o)
            name = index[o + 42:o + 42 + nlen].decode()
            self.tensors[name] = TensorInfo(name, sec, ENCODINGS[enc], ndim, qmin, qmax, rows, cols, scale, bool(tflags & 1))

    def payload(self, i: int) -> bytes:
        if i in self._payloads:
            return self._payloads[i]
        s = self.sections[i]
        raw = self.data[s.offset:s.offset + s.stored]
        if s.codec == 1:
            import lz4.block
            out, pos = bytearray(), 0
            while pos < len(raw):
                rl, cl = struct.unpack_from("<II", raw, pos)
                out += lz4.block.decompress(raw[pos + 8:pos + 8 + cl], uncompressed_size=rl)
                pos += 8 + cl
            raw = bytes(out)
        self._payloads[i] = raw
        return raw

    def tensor_checksums(self) -> list[str]:
        """Checksums of the TENSOR sections in table order (identifies the weights)."""
        return [f"{s.checksum:016X}" for s in self.sections if s.kind == 4]

    # MARK: tensors

    def codes(self, name: str) -> tuple[torch.Tensor, float]:
        """Integer codes (int8 [rows, cols]) and scale of a t2/t1/i8 tensor; codes and row scales for i8r."""
        t = self.tensors[name]
        p = self.payload(t.section)
        R, K = t.rows, t.cols
        if t.encoding == "i8":
            return torch.from_numpy(np.frombuffer(p, dtype=np.int8).reshape(R, K).copy()), t.scale
        if t.encoding == "i8r":
            c = np.frombuffer(p, dtype=np.int8, count=R * K).reshape(R, K).copy()
            at = (R * K + 3) & ~3
            s = np.frombuffer(p, dtype="<f4", count=R, offset=at).copy()
            return torch.from_numpy(c), torch.from_numpy(s)
        b = np.frombuffer(p, dtype=np.uint8)
        if t.encoding == "t2":
            rb = 32 * ((K + 127) // 128)
            rows = b.reshape(R, rb // 32, 32)
            trits = np.stack([(rows >> (2 * i)) & 3 for i in range(4)], axis=2)  # [R, blocks, 4, 32]
            c = trits.reshape(R, -1)[:, :K].astype(np.int8) - 1
            return torch.from_numpy(c), t.scale
        if t.encoding == "t1":
            nf, m = K // 160, (K % 160 + 4) // 5
            rb = 32 * nf + m
            rows = b.reshape(R, rb).astype(np.int64)
            out = np.zeros((R, K), dtype=np.int8)
            pw = [1, 3, 9, 27, 81]
            for bl in range(nf):
                for n in range(5):
                    tr = (((rows[:, 32 * bl:32 * bl + 32] * pw[n]) % 256) * 3) >> 8
                    out[:, 160 * bl + 32 * n:160 * bl + 32 * n + 32] = tr - 1
            for j in range(m):
                for n in range(5):
                    c = 160 * nf + m * n + j
                    if c < K:
                        out[:, c] = ((((rows[:, 32 * nf + j] * pw[n]) % 256) * 3) >> 8) - 1
            return torch.from_numpy(out), t.scale
        raise ValueError(f"{name}: {t.encoding} has no integer codes")

    def values(self, name: str) -> torch.Tensor:
        """Float32 values of any tensor (code·scale for grids, code·rowscale for i8r)."""
        t = self.tensors[name]
        shape = (t.rows,) if t.ndim == 1 else (t.rows, t.cols)
        p = self.payload(t.section)
        if t.encoding == "f32":
            return torch.from_numpy(np.frombuffer(p, dtype="<f4").reshape(shape).copy())
        if t.encoding == "f16":
            return torch.from_numpy(np.frombuffer(p, dtype="<f2").astype(np.float32).reshape(shape))
        if t.encoding == "bf16":
            u = np.frombuffer(p, dtype="<u2").astype(np.uint32) << 16
            return torch.from_numpy(u.view(np.float32).reshape(shape).copy())
        c, s = self.codes(name)
        if t.encoding == "i8r":
            return c.float() * s[:, None]
        return c.float() * torch.tensor(s, dtype=torch.float32)
