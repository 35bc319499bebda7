#!/usr/bin/env python3
"""Write the trainer's token stream as a text that dqt-tune tokenizes to the very same ids.

    python tools/stream_text.py --tokenizer tok.json --text train.txt --out train.stream.txt
    python tools/stream_text.py --tokenizer tok.json --text train.txt --check-tune model.dqt.tune

tools/train_dqt.py turns a text into `EOT doc1 EOT doc2 ... docN EOT` (documents split at
<|endoftext|>, stripped of surrounding newlines, each encoded on its own). dqt-tune tokenizes its
--data file as one prompt with special tokens parsed (formats/dqt-tune.md §5). The file written
here is that stream spelled as text: "<|endoftext|>" + doc1 + "<|endoftext|>" + ... + docN +
"<|endoftext|>"; a byte-level BPE splits at special tokens first, so it encodes to the same ids
(checked here with the Hugging Face tokenizer before writing).

Prints JSON: tokens, xxh64 of the ids as little-endian int32 (the `data_hash` dqt-tune stores in
its state sidecar, formats/dqt-tune.md §3.1). --check-tune compares both with a .tune file's
valid slots and exits 1 if they differ.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bpe_tokenizer import EOT, eot_id  # noqa: E402
from dqt_file import xxh64  # noqa: E402
from train_dqt import encode_stream, split_docs  # noqa: E402


def tune_slots(path: str) -> list[dict]:
    """The valid slots of a dqt-tune state sidecar (formats/dqt-tune.md §3.1)."""
    out = []
    with open(path, "rb") as f:
        raw = f.read(8192)
    for i in range(2):
        s = raw[4096 * i:4096 * i + 128]
        if len(s) < 128 or s[:8] != b"DQTTUNE1" or struct.unpack_from("<Q", s, 120)[0] != xxh64(s[:120]):
            continue
        commit, step, pos, ntok, h = struct.unpack_from("<QQQQQ", s, 16)
        out.append({"slot": i, "commit": commit, "step": step, "data_position": pos, "data_tokens": ntok,
                    "data_hash": h})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--out", help="write the stream text here")
    ap.add_argument("--check-tune", metavar="FILE", help="a dqt-tune state sidecar (MODEL.tune) to compare with")
    args = ap.parse_args()

    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(args.tokenizer)
    eot = eot_id(tok)
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    ids = encode_stream(tok, text, eot).numpy().astype("<i4")
    stream_text = EOT + EOT.join(split_docs(text)) + EOT
    again = np.array(tok.encode(stream_text).ids, dtype="<i4")
    if not np.array_equal(again, ids):
        raise SystemExit(f"{args.text}: the stream text does not encode to the trainer's ids "
                         f"({len(again)} vs {len(ids)} tokens)")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(stream_text)
    res = {"text": args.text, "tokens": int(len(ids)), "xxh64": f"{xxh64(ids.tobytes()):016x}"}
    if args.out:
        res["out"] = args.out
    if args.check_tune:
        slots = tune_slots(args.check_tune)
        res["tune_slots"] = [dict(s, data_hash=f"{s['data_hash']:016x}") for s in slots]
        ok = bool(slots) and all(s["data_tokens"] == len(ids) and f"{s['data_hash']:016x}" == res["xxh64"]
                                 for s in slots)
        res["same_tokens_as_dqt_tune"] = ok
        print(json.dumps(res))
        if not ok:
            sys.exit(1)
        return
    print(json.dumps(res))


if __name__ == "__main__":
    main()
