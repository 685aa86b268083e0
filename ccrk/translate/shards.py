"""Translate one shard of a caption file into every target language, line-aligned with the input, resumably.

Per shard: captions are stripped (empty ones pass through empty), cut to `max_input_tokens`, deduplicated
(identical captions are translated once), sorted by token length and cut into fixed batches. Finished
batches go to a progress log, so a killed job resumes where it stopped and, the batches being the same,
writes exactly what an uninterrupted run writes.
"""

import hashlib
import json
import logging
import time

from tqdm import tqdm

from ccrk.errors import CCRKError, DataError
from ccrk.io import iter_jsonl, write_json, write_jsonl
from ccrk.translate.progress import ProgressLog, progress_path
from ccrk.translate.scores import read_references, scores_against_references

log = logging.getLogger("ccrk.translate")


def shard_bounds(n_items: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Contiguous [start, end) of shard `shard` of `n_shards`; shard sizes differ by at most one."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} outside 0..{n_shards - 1}")
    return n_items * shard // n_shards, n_items * (shard + 1) // n_shards


def read_shard(corpus_path, shard: int, n_shards: int, source_lang: str) -> list[tuple[int, dict, str]]:
    """(line, record, stripped source caption) for the shard's lines; a missing caption names file and line."""
    records = list(iter_jsonl(corpus_path))
    start, end = shard_bounds(len(records), shard, n_shards)
    items = []
    for line, obj in records[start:end]:
        text = (obj.get("caption") or {}).get(source_lang) if isinstance(obj.get("caption"), dict) else None
        if not isinstance(text, str):
            raise DataError(corpus_path, line, f"caption.{source_lang}", "missing source caption")
        items.append((line, obj, text.strip()))
    return items


def translate_shard(
    corpus_path,
    out_path,
    shard: int,
    n_shards: int,
    translator,
    source_lang: str,
    target_langs: list[str],
    batch_size: int = 64,
    max_input_tokens: int = 128,
    references=None,
    stats_path=None,
) -> dict:
    """Write `{"line", "image_path", "translations": {lang: text}}` per input line; return (and write) the counts."""
    translator.check_languages(source_lang, target_langs)
    items = read_shard(corpus_path, shard, n_shards, source_lang)
    clipped, n_tokens, cut = {}, {}, set()
    for text in {t for _, _, t in items if t}:
        clipped[text], truncated = translator.clip(text, max_input_tokens)
        n_tokens[clipped[text]] = translator.count_tokens(clipped[text])
        if truncated:
            cut.add(text)
    unique = sorted(set(clipped.values()), key=lambda t: (n_tokens[t], t))  # length-sorted batches pad less
    batches = [unique[i : i + batch_size] for i in range(0, len(unique), batch_size)]
    fingerprint = hashlib.sha256(
        json.dumps([translator.settings, source_lang, target_langs, batches], ensure_ascii=False).encode()
    ).hexdigest()
    progress = ProgressLog(progress_path(out_path), fingerprint)
    seconds, translated = {}, 0
    with tqdm(
        total=len(unique) * len(target_langs),
        initial=sum(map(len, progress.done.values())),
        unit="sent",
        desc=f"shard {shard} {source_lang}->{','.join(target_langs)}",
        mininterval=5,
        smoothing=0,
    ) as bar:
        for lang in target_langs:
            start = time.perf_counter()
            for b, batch in enumerate(batches):
                if (lang, b) in progress.done:
                    continue
                out = translator.translate(batch, source_lang, lang)
                if len(out) != len(batch):
                    raise CCRKError(
                        f"{translator.name} returned {len(out)} translations for {len(batch)} captions"
                    )
                progress.add(lang, b, out)
                translated += len(batch)
                bar.update(len(batch))
            seconds[lang] = time.perf_counter() - start
    table = {
        lang: dict(zip(unique, (t for b in range(len(batches)) for t in progress.done[(lang, b)])))
        for lang in target_langs
    }
    lines = {
        line: {lang: table[lang][clipped[t]] if t else "" for lang in target_langs} for line, _, t in items
    }
    n = write_jsonl(
        out_path,
        (
            {"line": line, "image_path": obj.get("image_path"), "translations": lines[line]}
            for line, obj, _ in items
        ),
    )
    stats = {
        "shard": shard,
        "lines": n,
        "empty": sum(1 for *_, t in items if not t),
        "truncated": sum(1 for *_, t in items if t in cut),
        "unique": len(unique),
        "translated_now": translated,
        "sentences_per_s": round(translated / max(sum(seconds.values()), 1e-9), 2),
    }
    if references:
        stats.update(
            scores_against_references(lines, read_references(references, target_langs), target_langs)
        )
    if stats_path:
        write_json(stats_path, stats)
    progress.close(remove=True)
    log.info("shard %d/%d: %s", shard, n_shards, stats)
    return stats
