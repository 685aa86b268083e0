"""The translation stage's report: shard counts summed, chrF/BLEU per language over every shard."""

import logging

from ccrk.errors import DataError
from ccrk.io import iter_jsonl, read_json, write_json
from ccrk.translate.scores import read_references, scores_against_references

log = logging.getLogger("ccrk.translate")
COUNTS = ("lines", "empty", "truncated", "unique")


def read_translations(paths) -> dict[int, dict[str, str]]:
    """line -> {lang: translation} from the shard files."""
    out = {}
    for path in paths:
        for line, obj in iter_jsonl(path):
            if not isinstance(obj.get("line"), int) or not isinstance(obj.get("translations"), dict):
                raise DataError(
                    path, line, "line/translations", "expected {'line': int, 'translations': {...}}"
                )
            out[obj["line"]] = obj["translations"]
    return out


def translation_report(shard_paths, stats_paths, out_path, languages: list[str], references=None) -> dict:
    stats = [read_json(p) for p in stats_paths]
    report = {"shards": len(stats), **{k: sum(s[k] for s in stats) for k in COUNTS}}
    if references:
        report.update(
            scores_against_references(
                read_translations(shard_paths), read_references(references, languages), languages
            )
        )
    write_json(out_path, report)
    log.info("translation report: %s", report)
    return report
