"""Byte-level BPE tokenizer (GPT-2 style) trained with the Hugging Face `tokenizers` library.

Pre-tokenizer: ByteLevel with the GPT-2 regex, no prefix space; decoder: ByteLevel.
Special token `<|endoftext|>` gets id 0 and is both bos and eos. The 256 byte symbols are
always in the vocabulary (initial_alphabet), so every byte string can be encoded.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"


def train_bpe(texts, vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """texts: an iterable of strings (documents). Returns a trained Tokenizer (EOT id 0)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def eot_id(tok: Tokenizer) -> int:
    i = tok.token_to_id(EOT)
    if i is None:
        raise ValueError(f"tokenizer has no {EOT} token")
    return i
