#!/usr/bin/env python3
"""Checks dqt's tokenizer against real SentencePiece models shipped in a PyPI package (not in CI:
the models carry ~240 KB charsmaps each). Run from the repository root:

    python3 tools/check_pypi_tokenizers.py [SCRATCH_DIR]

Downloads the sdist of sentencepiece 0.2.0 (pip download --no-binary), takes its
test/test_model.model (Unigram, 1000 pieces, rule nfkc) and test/test_ja_model.model (Unigram,
8000 pieces, nfkc), writes goldens from sentencepiece (the installed version) for the
normalization corpus, the multilingual documents and the sdist's own test/botchan.txt, and runs
`swift test --filter ExternalTokenizerTests` with DQT_EXTERNAL_TOKENIZERS pointing at them.
"""
import json
import os
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_corpus  # noqa: E402

PACKAGE, VERSION = "sentencepiece", "0.2.0"
MODELS = ["test_model.model", "test_ja_model.model"]


def main():
    import sentencepiece as spm
    scratch = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="dqt-pypi-tok-")
    os.makedirs(scratch, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    f"{PACKAGE}=={VERSION}", "-d", scratch], check=True)
    sdist = os.path.join(scratch, f"{PACKAGE}-{VERSION}.tar.gz")
    docs = {k: v for k, v in tokenizer_corpus.build_corpus().items()
            if k in ("multilingual", "multiscript_words", "emoji_and_marks", "whitespace", "crlf_lines")}
    docs["normalization"] = tokenizer_corpus.NORMALIZATION
    with tarfile.open(sdist) as tar:
        for m in MODELS:
            data = tar.extractfile(f"{PACKAGE}-{VERSION}/test/{m}").read()
            d = os.path.join(scratch, m.replace(".model", ""))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "tokenizer.model"), "wb") as f:
                f.write(data)
        docs["botchan"] = tar.extractfile(f"{PACKAGE}-{VERSION}/test/botchan.txt").read().decode("utf-8")
    for m in MODELS:
        d = os.path.join(scratch, m.replace(".model", ""))
        sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
        for k, t in docs.items():   # texts as files: a JSON reader may drop a leading U+FEFF
            with open(os.path.join(d, k + ".txt"), "w", encoding="utf-8", newline="") as f:
                f.write(t)
        golden = {"source": f"PyPI {PACKAGE} {VERSION} sdist, test/{m}",
                  "reference": "sentencepiece " + spm.__version__,
                  "documents": {k: {"ids": sp.encode(t)} for k, t in docs.items()}}
        with open(os.path.join(d, "golden.json"), "w", encoding="utf-8") as f:
            json.dump(golden, f, ensure_ascii=False)
    env = dict(os.environ, DQT_EXTERNAL_TOKENIZERS=scratch)
    r = subprocess.run(["swift", "test", "--filter", "ExternalTokenizerTests"], env=env)
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
