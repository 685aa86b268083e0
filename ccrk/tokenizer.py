"""Tokenizers: a local XLM-R directory (paper) or an XLM-R-style unigram vocabulary built on the corpus (demo).

transformers 5 silently ignores `XLMRobertaTokenizer(vocab_file=...)` (every word becomes <unk>),
so a tokenizer is always a directory loaded with `from_pretrained(dir)`.
"""

import math
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ccrk.errors import CCRKError


def load_tokenizer(path):
    """Load an XLM-R-style tokenizer from a local directory, offline; it must have a mask token."""
    from transformers import AutoTokenizer

    if (
        not Path(path, "tokenizer_config.json").is_file()
        and not Path(path, "sentencepiece.bpe.model").is_file()
    ):
        raise CCRKError(
            f"{path}: not a tokenizer directory (no tokenizer_config.json or sentencepiece.bpe.model)"
        )
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tok.mask_token_id is None or tok.bos_token_id is None:
        raise CCRKError(
            f"{path}: the tokenizer has no <mask> or <s> token; an XLM-R-style tokenizer is required"
        )
    return tok


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "FULLWIDTH", "IDEOGRAPHIC"))


def closed_vocabulary_pieces(pretokens: Iterable[str], vocab_size: int) -> list[tuple[str, float]]:
    """Unigram pieces scored by log frequency: every character, then the most frequent whole words.

    Words of unspaced scripts (zh, ja) contribute characters only. On the demo's small closed vocabulary,
    sentencepiece's and tokenizers' unigram trainers both split its most frequent words into single
    characters (measured: "picture" -> p i c tu re); counting is exact for a closed vocabulary.
    """
    chars, words = Counter(), Counter()
    for tok in pretokens:
        chars.update(tok)
        if not any(_is_cjk(c) for c in tok):
            words[tok] += 1
        elif tok.startswith("▁") and len(tok) > 1:
            chars[tok[:2]] += 1  # "▁X": the first character of an unspaced sentence
    pieces = Counter(chars)  # full character coverage: no <unk> for any seen character
    budget = max(0, vocab_size - len(pieces))
    for word, n in words.most_common():
        if budget == 0:
            break
        if len(word) > 1 and word not in pieces:
            pieces[word] = n
            budget -= 1
    total = sum(pieces.values())
    fallback = 20.0  # characters only where no whole word fits: "a" must not beat "▁a" on raw counts
    return sorted(
        ((p, math.log(n / total) - (fallback if p in chars else 0.0)) for p, n in pieces.items()),
        key=lambda x: -x[1],
    )


def train_tokenizer(sentences: Iterable[str], out_dir, vocab_size: int):
    """Build an XLM-R-style unigram tokenizer (<s> <pad> </s> <unk> ... <mask>) for the given sentences."""
    from transformers import XLMRobertaTokenizer

    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    base = XLMRobertaTokenizer(vocab=specials + [("<mask>", 0.0)])
    norm, pre = base.backend_tokenizer.normalizer, base.backend_tokenizer.pre_tokenizer

    def pretokens():  # the same normalisation and ▁-splitting the final tokenizer applies
        for s in sentences:
            yield from (w for w, _ in pre.pre_tokenize_str(norm.normalize_str(s) if norm else s))

    tok = XLMRobertaTokenizer(
        vocab=specials + closed_vocabulary_pieces(pretokens(), vocab_size - 5) + [("<mask>", 0.0)]
    )
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tok.save_pretrained(str(tmp))
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_tokenizer(out_dir)


def train_tokenizer_on_corpus(corpus_paths, languages: list[str], out_dir, vocab_size: int):
    """The tokenizer rule: a tokenizer for the corpus captions, normalised as the model will read them."""
    from ccrk.data.pretrain_dataset import read_corpus
    from ccrk.data.text import pre_caption

    items = read_corpus(corpus_paths, languages)
    tok = train_tokenizer(
        (pre_caption(c, max_words=10**6) for it in items for c in it.captions), out_dir, vocab_size
    )
    return tok, len(items)


def unknown_token_counts(tokenizer, sentences: dict[str, str]) -> dict[str, int]:
    """For each language, how many tokens of its sentence are <unk> (all zero means full coverage)."""
    return {
        lang: tokenizer(text)["input_ids"].count(tokenizer.unk_token_id) for lang, text in sentences.items()
    }
