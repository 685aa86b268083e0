"""Pretraining corpus builder: given captions + translations -> `{"caption", "image_path"}` shards."""

import logging
import random

from ccrk.download.manifest import CorpusImages
from ccrk.io import iter_jsonl, write_json, write_jsonl
from ccrk.translate.report import read_translations

log = logging.getLogger("ccrk.corpus")


def build_corpus(
    given_path,
    translation_paths,
    out_paths,
    languages,
    report_path=None,
    max_images=None,
    seed=0,
    images: CorpusImages | None = None,
) -> dict:
    """Merge translations (line-aligned shards, in shard order) into the given captions and split round-robin.

    Items missing a chosen language (or with it empty) are dropped and counted per language, never silently.
    `max_images` keeps a seeded random sample of the complete items, in file order (CCRK's 1M corpus).
    An item names its image by `image_path`, by the `url` of a download manifest or of a shard sample, or by
    the `key` of a shard sample (`images`); items whose image failed or is absent are dropped and counted too
    (ccrk.download.manifest). Items of shard samples are written as `{"caption", "shard", "key"}`.
    """
    images = images or CorpusImages()
    translated = read_translations(translation_paths)
    records = []
    dropped = {lang: 0 for lang in languages}
    n_dropped = 0
    for line, obj in iter_jsonl(given_path):
        captions = {**obj.get("caption", {}), **translated.get(line, {})}
        missing = [lang for lang in languages if not str(captions.get(lang, "")).strip()]
        for lang in missing:
            dropped[lang] += 1
        if missing:
            n_dropped += 1
            continue
        image = images.resolve(given_path, line, obj)
        if image is None:
            n_dropped += 1
            continue
        records.append({"caption": {lang: captions[lang] for lang in languages}, **image})
    complete = len(records)
    if max_images is not None and max_images < complete:
        records = [records[i] for i in sorted(random.Random(seed).sample(range(complete), max_images))]
    kept = len(records)
    parts = [records[i :: len(out_paths)] for i in range(len(out_paths))]
    for path, part in zip(out_paths, parts):
        write_jsonl(path, part)
    report = {
        "kept": kept,
        "complete": complete,
        "dropped": n_dropped,
        "dropped_missing_language": dropped,
        "parts": len(out_paths),
        "languages": list(languages),
        **images.report(),
    }
    if report_path:
        write_json(report_path, report)
    log.info("corpus: %s", report)
    return report
