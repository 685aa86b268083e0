"""Tokenizers: a local XLM-R directory (paper) or a sentencepiece model trained on the corpus (demo).

transformers 5 silently ignores `XLMRobertaTokenizer(vocab_file=...)` (every word becomes <unk>),
so a tokenizer is always a directory loaded with `from_pretrained(dir)`.
"""

import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from ccrk.errors import CCRKError


def load_tokenizer(path):
    """Load an XLM-R-style tokenizer from a local directory, offline; it must have a mask token."""
    from transformers import AutoTokenizer

    if not Path(path, "tokenizer_config.json").is_file() and not Path(path, "sentencepiece.bpe.model").is_file():
        raise CCRKError(f"{path}: not a tokenizer directory (no tokenizer_config.json or sentencepiece.bpe.model)")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.mask_token_id is None or tok.bos_token_id is None:
        raise CCRKError(f"{path}: the tokenizer has no <mask> or <s> token; an XLM-R-style tokenizer is required")
    return tok


def train_tokenizer(sentences: Iterable[str], out_dir, vocab_size: int):
    """Train a unigram sentencepiece model (full character coverage for zh/ja) and save it as XLM-R."""
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(list(sentences)), model_prefix=str(tmp / "sentencepiece.bpe"),
            vocab_size=vocab_size, model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
            num_threads=1, minloglevel=2,  # one thread: the same corpus gives the same model
        )
        XLMRobertaTokenizer.from_pretrained(str(tmp)).save_pretrained(str(tmp))
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_tokenizer(out_dir)


def unknown_token_counts(tokenizer, sentences: dict[str, str]) -> dict[str, int]:
    """For each language, how many tokens of its sentence are <unk> (all zero means full coverage)."""
    return {lang: tokenizer(text)["input_ids"].count(tokenizer.unk_token_id) for lang, text in sentences.items()}
