"""Translate one shard of a caption file into every target language, line-aligned with the input."""

import logging

from tqdm import tqdm

from ccrk.errors import DataError
from ccrk.io import iter_jsonl, write_jsonl

log = logging.getLogger("ccrk.translate")


def shard_bounds(n_items: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Contiguous [start, end) of shard `shard` of `n_shards`; shard sizes differ by at most one."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} outside 0..{n_shards - 1}")
    return n_items * shard // n_shards, n_items * (shard + 1) // n_shards


def translate_shard(corpus_path, out_path, shard: int, n_shards: int, translator, source_lang: str,
                    target_langs: list[str], batch_size: int = 64) -> dict:
    """Write `{"line": n, "translations": {lang: text}}` for every line of the shard; returns counts.

    Identical captions are translated once; empty captions pass through empty and are counted.
    """
    records = list(iter_jsonl(corpus_path))
    start, end = shard_bounds(len(records), shard, n_shards)
    sources = []
    for line, obj in records[start:end]:
        text = (obj.get("caption") or {}).get(source_lang)
        if not isinstance(text, str):
            raise DataError(corpus_path, line, f"caption.{source_lang}", "missing source caption")
        sources.append((line, text.strip()))
    unique = sorted({t for _, t in sources if t}, key=len)  # length-sorted batches pad less
    out = {}
    for lang in target_langs:
        done = {}
        for i in tqdm(range(0, len(unique), batch_size), desc=f"{source_lang}->{lang}", mininterval=5):
            chunk = unique[i:i + batch_size]
            done.update(zip(chunk, translator.translate(chunk, source_lang, lang)))
        out[lang] = done
    n = write_jsonl(out_path, ({"line": line, "translations": {lang: out[lang].get(t, "") for lang in target_langs}}
                               for line, t in sources))
    stats = {"shard": shard, "lines": n, "unique": len(unique), "empty": sum(1 for _, t in sources if not t)}
    log.info("shard %d/%d: %s", shard, n_shards, stats)
    return stats
