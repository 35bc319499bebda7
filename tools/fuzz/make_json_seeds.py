#!/usr/bin/env python3
"""Writes the small tokenizer.json seeds of the fuzz corpus (tools/fuzz/corpus/tokenizer-json/).
Each is a complete, importable tokenizer in one of the supported shapes; the fuzzer mutates
them. Run from the repository root; the files are committed."""
import json, os

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

B2U = bytes_to_unicode()

def add_merges(s, vocab, merges):
    """Merges that build the spelling s left to right (s[:2], then s[:3], ...), new ones appended."""
    cur = s[0]
    for ch in s[1:]:
        if cur + ch not in vocab:
            merges.append([cur, ch])
            vocab[cur + ch] = len(vocab)
        cur = cur + ch

def bl(s):  # byte-level spelling
    return "".join(B2U[b] for b in s.encode())

def added(i, content, special=True, lstrip=False, rstrip=False, single_word=False, normalized=False):
    return {"id": i, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}

def bpe(vocab, merges, **kw):
    m = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    m.update(kw)
    m["vocab"] = vocab
    m["merges"] = merges
    return m

def byte_level(words, extra_added, pre, ignore_merges=False, post=None, prefix_space=False):
    vocab = {a["content"]: a["id"] for a in extra_added}
    for ch in sorted(set("".join(bl(w) for w in words)) | {bl(" "), bl("\n")}):
        vocab.setdefault(ch, len(vocab))
    merges = []
    for w in words:
        add_merges(bl(w), vocab, merges)
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": extra_added,
            "normalizer": None, "pre_tokenizer": pre, "post_processor": post,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": bpe(vocab, merges, ignore_merges=ignore_merges)}

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

def template(tok, tid):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": tok, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {tok: {"id": tok, "ids": [tid], "tokens": [tok]}}}

def char_bpe(words, pre=None, normalizer=None, decoder_strip=True):
    added_tokens = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(3, "<sep>", special=False)]
    vocab = {a["content"]: a["id"] for a in added_tokens}
    for b in [0x0A, 0x20, 0xC3, 0xA9, 0xE2]:
        vocab[f"<0x{b:02X}>"] = len(vocab)
    sp = "\u2581"
    merges = []
    for w in words:
        s = sp + w
        for ch in s:
            vocab.setdefault(ch, len(vocab))
        add_merges(s, vocab, merges)
    decoders = [{"type": "Replace", "pattern": {"String": sp}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}]
    if decoder_strip:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": template("<s>", 1),
            "decoder": {"type": "Sequence", "decoders": decoders},
            "model": bpe(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True)}

def unigram(pieces, normalizer, pre):
    """A Unigram model (version 1.1 payloads): <unk>, byte pieces, then scored pieces."""
    added_tokens = [added(0, "<unk>"), added(1, "</s>")]
    vocab = [["<unk>", 0.0], ["</s>", 0.0]] + [[f"<0x{b:02X}>", 0.0] for b in [0x0A, 0x20, 0xC3, 0xA9, 0xE2]]
    vocab += [[p, -1.0 - 0.5 * i] for i, p in enumerate(pieces)]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": None,
            "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
            "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": True}}

WORDS = ["hello", "world", "the", "they", "hi", "1234", "'s"]
seeds = {
    "bytelevel-gpt2.json": byte_level(WORDS, [added(0, "<|endoftext|>")],
                                      {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}),
    "bytelevel-prefix-space.json": byte_level([" hello", " world", "ab"], [added(0, "<|endoftext|>"), added(1, "<x>", special=False, lstrip=True, rstrip=True, single_word=True)],
                                              {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}),
    "bytelevel-llama3.json": byte_level([" hello", "world", "123"], [added(0, "<|begin_of_text|>"), added(1, "<|eot_id|>")],
                                        {"type": "Sequence", "pretokenizers": [
                                            {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": False},
                                            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
                                        ignore_merges=True, post=template("<|begin_of_text|>", 0)),
    "metaspace-split.json": char_bpe(["hello", "héllo", "ab"], pre={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}),
    "metaspace-first.json": char_bpe(["hello", "world"], pre={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}),
    "llama2-normalizer.json": char_bpe(["hello", "a"], normalizer={"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}),
    # Version 1.1: Unigram, normalizer steps (STRIP, REPLACE_RUN, MAP, PREPEND), WhitespaceSplit.
    "unigram-normalizers.json": unigram(["\u2581", "\u2581h", "ello", "h", "e", "l", "o", "\u2581hello", "w", "\u2581wor", "ld", "x"],
                                        {"type": "Sequence", "normalizers": [
                                            {"type": "Strip", "strip_left": False, "strip_right": True},
                                            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
                                            {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
                                            {"type": "Prepend", "prepend": "x"}]},
                                        {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                                            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]}),
    "unigram-nfc.json": unigram(["\u2581", "\u00e9", "e", "\u2581caf", "\u00e9t\u00e9"], {"type": "NFC"},
                                {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}),
}
out = "tools/fuzz/corpus/tokenizer-json"
os.makedirs(out, exist_ok=True)
for name, j in seeds.items():
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, separators=(",", ":"))
    print(name, os.path.getsize(os.path.join(out, name)))
