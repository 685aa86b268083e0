"""Caption translation behind one interface: `translator.translate(texts, source_lang, target_lang)`."""

from ccrk.translate.backends import build_translator
from ccrk.translate.shards import shard_bounds, translate_shard

__all__ = ["build_translator", "shard_bounds", "translate_shard"]
