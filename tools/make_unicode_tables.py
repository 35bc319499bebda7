#!/usr/bin/env python3
"""Writes Sources/DQTImport/UnicodeTables.swift: the Unicode data dqt-convert compiles Hugging Face
normalizers from (formats/dqt-tokenizer.md §2.7). Run from the repository root:

    apt-get install unicode-data          # Debian's UCD files, /usr/share/unicode (15.0.0 on Debian 13)
    python3 tools/make_unicode_tables.py [UCD_DIR]

Pinned source: the UCD files of the Debian package unicode-data (the version is read from
ReadMe.txt / the file headers and written into the Swift file). Nothing else is consulted
(not Python's unicodedata, which has its own Unicode version).

Tables, each a compact string literal parsed by DQTImport/UnicodeTables+Parse.swift:
  nfd, nfkd          code point -> full canonical / compatibility decomposition (recursive; Hangul
                     syllables excluded: the runtime decomposes them arithmetically)
  ccc                ranges of equal non-zero canonical combining class
  compositions       primary composites: (first, second) -> composite, canonical pairs that are not
                     Full_Composition_Exclusion (Hangul excluded: arithmetic at run time)
  lowercase          code point -> full lowercase mapping, per character (Rust char::to_lowercase:
                     UnicodeData simple lowercase + the unconditional SpecialCasing entries)
  marks              ranges of General_Category M (Mn, Mc, Me) — tokenizers' StripAccents
  graphemeClasses    Grapheme_Cluster_Break (+16 for Extended_Pictographic) ranges
"""

import os
import re
import sys

UCD = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Sources", "DQTImport", "UnicodeTables.swift")


def lines(name):
    with open(os.path.join(UCD, name), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield line


def version():
    with open(os.path.join(UCD, "auxiliary", "GraphemeBreakProperty.txt"), encoding="utf-8") as f:
        m = re.search(r"GraphemeBreakProperty-(\d+\.\d+\.\d+)", f.readline())
        return m.group(1)


def parse_range(s):
    if ".." in s:
        a, b = s.split("..")
        return int(a, 16), int(b, 16)
    return int(s, 16), int(s, 16)


def unicode_data():
    """code point -> (category, ccc, decomposition field, simple lowercase)"""
    data = {}
    first = None
    for line in lines("UnicodeData.txt"):
        f = line.split(";")
        cp = int(f[0], 16)
        rec = (f[2], int(f[3]), f[5], f[13])
        if f[1].endswith(", First>"):
            first = cp
            continue
        if f[1].endswith(", Last>"):
            for c in range(first, cp + 1):
                data[c] = rec
            continue
        data[cp] = rec
    return data


def is_hangul_syllable(cp):
    return 0xAC00 <= cp <= 0xD7A3


def decompositions(data, compat):
    raw = {}
    for cp, (_, _, dec, _) in data.items():
        if not dec or is_hangul_syllable(cp):
            continue
        if dec.startswith("<"):
            if not compat:
                continue
            dec = dec.split(">", 1)[1].strip()
        raw[cp] = [int(x, 16) for x in dec.split()]

    def full(cp):
        if cp not in raw:
            return [cp]
        out = []
        for c in raw[cp]:
            out.extend(full(c))
        return out
    return {cp: full(cp) for cp in raw}


def ranges_of(values):
    """{cp: value} -> sorted [(first, last, value)] merging consecutive equal values."""
    out = []
    for cp in sorted(values):
        v = values[cp]
        if out and out[-1][1] == cp - 1 and out[-1][2] == v:
            out[-1][1] = cp
        else:
            out.append([cp, cp, v])
    return out


def main():
    data = unicode_data()
    nfd = decompositions(data, compat=False)
    nfkd = decompositions(data, compat=True)
    ccc = {cp: c for cp, (_, c, _, _) in data.items() if c != 0}

    exclusions = set()
    for line in lines("DerivedNormalizationProps.txt"):
        f = [x.strip() for x in line.split(";")]
        if f[1] == "Full_Composition_Exclusion":
            a, b = parse_range(f[0])
            exclusions.update(range(a, b + 1))
    compositions = []
    for cp, (_, _, dec, _) in data.items():
        if not dec or dec.startswith("<") or cp in exclusions or is_hangul_syllable(cp):
            continue
        parts = [int(x, 16) for x in dec.split()]
        if len(parts) == 2:
            compositions.append((parts[0], parts[1], cp))
    compositions.sort()

    lower = {}
    for cp, (_, _, _, lo) in data.items():
        if lo:
            lower[cp] = [int(lo, 16)]
    for line in lines("SpecialCasing.txt"):
        f = [x.strip() for x in line.split(";")]
        if len(f) >= 5 and f[4]:
            continue   # conditional mappings (final sigma, locales) are not per-character
        cp = int(f[0], 16)
        lo = [int(x, 16) for x in f[1].split()]
        if lo != [cp]:
            lower[cp] = lo

    marks = {cp: 1 for cp, (cat, _, _, _) in data.items() if cat in ("Mn", "Mc", "Me")}

    gcb_names = {"CR": 1, "LF": 2, "Control": 3, "Extend": 4, "ZWJ": 5, "SpacingMark": 6, "Prepend": 7,
                 "L": 8, "V": 9, "T": 10, "LV": 11, "LVT": 12, "Regional_Indicator": 13}
    gcb = {}
    for line in lines(os.path.join("auxiliary", "GraphemeBreakProperty.txt")):
        r, name = [x.strip() for x in line.split(";")]
        a, b = parse_range(r)
        for c in range(a, b + 1):
            gcb[c] = gcb_names[name]
    for line in lines(os.path.join("emoji", "emoji-data.txt")):
        r, name = [x.strip() for x in line.split(";")]
        if name == "Extended_Pictographic":
            a, b = parse_range(r)
            for c in range(a, b + 1):
                gcb[c] = gcb.get(c, 0) | 16

    def hexs(xs):
        return " ".join("%X" % x for x in xs)

    def mapping(d):
        return ";".join("%X:%s" % (cp, hexs(v)) for cp, v in sorted(d.items()))

    def rng(rs):
        return ";".join("%X:%X:%d" % (a, b, v) for a, b, v in rs)

    tables = [
        ("nfd", mapping(nfd)),
        ("nfkd", mapping(nfkd)),
        ("ccc", rng(ranges_of(ccc))),
        ("compositions", ";".join("%X %X:%X" % c for c in compositions)),
        ("lowercase", mapping(lower)),
        ("marks", rng(ranges_of(marks))),
        ("graphemeClasses", rng(ranges_of(gcb))),
    ]
    ver = version()
    with open(OUT, "w", encoding="utf-8") as f:
        f.write("// GENERATED by tools/make_unicode_tables.py from the Unicode Character Database %s\n" % ver)
        f.write("// (Debian package unicode-data). Do not edit. Parsed by UnicodeTables+Parse.swift.\n")
        f.write("// Formats: mappings \"CP:HEX HEX;...\", ranges \"FIRST:LAST:VALUE;...\", compositions \"A B:C;...\".\n\n")
        f.write("enum UnicodeTables {\n")
        f.write("    static let version = \"%s\"\n" % ver)
        for name, s in tables:
            f.write("    static let %s = \"%s\"\n" % (name, s))
        f.write("}\n")
    print("wrote", OUT, "Unicode", ver, {n: len(s) for n, s in tables})


if __name__ == "__main__":
    main()
