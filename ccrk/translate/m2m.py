"""An M2M-100 model directory: validated before a long run, and the tokenizer work every backend shares.

The released M2M-100 tokenizer declares its 100 `__xx__` language tokens as special tokens. One built
without them (e.g. `M2M100Tokenizer(vocab, spm)` in transformers 5) loads, but decoding keeps `__es__` in
the text and the CTranslate2 converter fails on the vocabulary size; so we refuse such a directory up front.
"""

import json
import re
from pathlib import Path

from ccrk.errors import CCRKError
from ccrk.translate.languages import M2M100_LANGUAGES, language_token

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("vocab.json", "sentencepiece.bpe.model")
FIX_TOKENS = (
    "save the tokenizer with additional_special_tokens set to the 100 '__xx__' language tokens, as the "
    "released facebook/m2m100 tokenizer files declare them"
)


class ModelDirError(CCRKError, ValueError):
    """A translation model directory that would fail, or translate wrongly, hours into a run."""


def validate_m2m_dir(path):
    """Check an M2M-100 directory (config, weights, tokenizer, the 100 language tokens); return the tokenizer."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise ModelDirError(f"{path}: no such model directory")
    config_file = path / "config.json"
    if (
        not config_file.is_file() and (path / "easynmt.json").is_file()
    ):  # EasyNMT's cache: a pointer to the hub
        raise ModelDirError(
            f"{path}: an EasyNMT cache entry without weights; fetch the model it names once, online "
            f"(hf download facebook/m2m100_1.2B --local-dir DIR) and set translate.model to DIR"
        )
    if not config_file.is_file():
        raise ModelDirError(
            f"{path}: no config.json; expected a transformers M2M-100 directory (m2m100_1.2B)"
        )
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("model_type") != "m2m_100":
        raise ModelDirError(f"{config_file}: model_type {config.get('model_type')!r}, expected 'm2m_100'")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise ModelDirError(f"{path}: no weights (one of {', '.join(WEIGHT_FILES)})")
    missing = [f for f in TOKENIZER_FILES if not (path / f).is_file()]
    if missing:
        raise ModelDirError(f"{path}: tokenizer file(s) {', '.join(missing)} missing")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    lang_ids = getattr(tok, "lang_code_to_id", None)
    if not lang_ids:
        raise ModelDirError(f"{path}: tokenizer {type(tok).__name__} has no M2M-100 language codes")
    special = set(tok.all_special_tokens)
    not_special = [language_token(c) for c in M2M100_LANGUAGES if language_token(c) not in special]
    if not_special:
        raise ModelDirError(
            f"{path}: {len(not_special)} language tokens are not special tokens of the tokenizer "
            f"(first: {not_special[:3]}); decoded text would keep them. Fix: {FIX_TOKENS}"
        )
    for code in M2M100_LANGUAGES:
        token_id = tok.convert_tokens_to_ids(language_token(code))
        if token_id != lang_ids.get(code) or token_id >= config["vocab_size"]:
            raise ModelDirError(
                f"{path}: language token {language_token(code)} has id {token_id}, the tokenizer's "
                f"language id is {lang_ids.get(code)}, the model's vocab_size {config['vocab_size']}"
            )
    expected = len(tok) + getattr(tok, "num_madeup_words", 0)
    if expected != config["vocab_size"]:
        raise ModelDirError(
            f"{path}: tokenizer has {len(tok)} tokens + {getattr(tok, 'num_madeup_words', 0)} "
            f"madeup words = {expected}, config.json vocab_size is {config['vocab_size']}"
        )
    return tok


class M2MTokens:
    """Source encoding, truncation and decoding with an M2M-100 tokenizer, identical for every backend.

    `pieces`, `source_pieces` and `decode_pieces` do in one sentencepiece call per batch what the tokenizer
    does per text in Python, with the same result (tested); a text that spells a special token (`</s>`,
    `__es__`) goes through the tokenizer, which reads it as that token.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.sp = tokenizer.sp_model  # the sentencepiece model the M2M-100 tokenizer wraps
        self.special = frozenset(tokenizer.all_special_tokens)
        self.vocab = frozenset(tokenizer.get_vocab())
        self._spells_special = re.compile(
            "|".join(map(re.escape, sorted(self.special, key=len, reverse=True)))
        )

    def pieces(self, texts: list[str]) -> list[list[str]]:
        """Sentencepiece pieces per text, as `tokenizer.tokenize` gives them."""
        out = self.sp.encode(texts, out_type=str)
        for i, text in enumerate(texts):
            if self._spells_special.search(text):
                out[i] = self.tokenizer.tokenize(text)
        return out

    def count(self, text: str) -> int:
        return len(self.pieces([text])[0])

    def clip(self, text: str, max_tokens: int) -> tuple[str, bool]:
        """The text cut to its first `max_tokens` sentencepiece tokens, and whether it was cut."""
        pieces = self.pieces([text])[0]
        if len(pieces) <= max_tokens:
            return text, False
        return self.tokenizer.convert_tokens_to_string(pieces[:max_tokens]), True

    def source_ids(self, texts: list[str], source_lang: str) -> list[list[int]]:
        """`[__src__, pieces..., </s>]` per text, as M2M-100 was trained."""
        self.tokenizer.src_lang = source_lang
        return self.tokenizer(texts, add_special_tokens=True)["input_ids"]

    def source_pieces(self, texts: list[str], source_lang: str) -> list[list[str]]:
        """`source_ids` as token strings (what CTranslate2 reads): a piece outside the vocabulary is <unk>."""
        src, eos, unk, vocab = (
            language_token(source_lang),
            self.tokenizer.eos_token,
            self.tokenizer.unk_token,
            self.vocab,
        )
        return [[src, *(p if p in vocab else unk for p in pieces), eos] for pieces in self.pieces(texts)]

    def target_id(self, target_lang: str) -> int:
        return self.tokenizer.convert_tokens_to_ids(language_token(target_lang))

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def decode_pieces(self, outputs: list[list[str]]) -> list[str]:
        """`decode` of token strings for a whole batch: special tokens dropped, one sentencepiece call."""
        return [t.strip() for t in self.sp.decode([[t for t in o if t not in self.special] for o in outputs])]


class M2MTranslator:
    """Shared by the M2M-100 backends: validation first, then `_translate` on already-checked language codes."""

    name = "m2m"

    def __init__(
        self,
        model_dir,
        *,
        batch_size: int = 16,
        beam_size: int = 5,
        max_output_tokens: int = 256,
        device: str = "auto",
        tokenizer=None,
    ):
        self.model_dir = str(model_dir)
        self.tokens = M2MTokens(validate_m2m_dir(model_dir) if tokenizer is None else tokenizer)
        self.batch_size, self.beam_size, self.max_output_tokens = batch_size, beam_size, max_output_tokens
        self.device = resolve_device(device)

    @property
    def settings(self) -> dict:
        """Everything a translation depends on, for the resume fingerprint."""
        return {
            "backend": self.name,
            "model": self.model_dir,
            "beam_size": self.beam_size,
            "max_output_tokens": self.max_output_tokens,
            "batch_size": self.batch_size,
        }

    def check_languages(self, source_lang: str, target_langs: list[str]) -> None:
        for code in (source_lang, *target_langs):
            language_token(code)

    def clip(self, text: str, max_tokens: int) -> tuple[str, bool]:
        return self.tokens.clip(text, max_tokens)

    def count_tokens(self, text: str) -> int:
        return self.tokens.count(text)

    def translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        self.check_languages(source_lang, [target_lang])
        return self._translate(list(texts), source_lang, target_lang) if texts else []

    def _translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        raise NotImplementedError


def resolve_device(device: str) -> str:
    """'auto' is CUDA when there is one, else CPU."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
