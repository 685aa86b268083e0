"""Caption translation behind one interface: `translator.translate(texts, source_lang, target_lang)`."""

from ccrk.translate.backends import BACKENDS, build_translator
from ccrk.translate.languages import M2M100_LANGUAGES, UnknownLanguageError, language_token
from ccrk.translate.m2m import ModelDirError, validate_m2m_dir
from ccrk.translate.shards import shard_bounds, translate_shard

__all__ = [
    "BACKENDS",
    "M2M100_LANGUAGES",
    "ModelDirError",
    "UnknownLanguageError",
    "build_translator",
    "language_token",
    "shard_bounds",
    "translate_shard",
    "validate_m2m_dir",
]
