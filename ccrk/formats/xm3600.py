"""Reader of Crossmodal-3600 (XM3600) `captions.jsonl` (docs/method.md#xm3600).

One line per image: `{"image/key": "<hex key>", "<locale>": {"caption": [str, ...], ...}, ...}` for the 36
locales below; the image is `<images>/<key>.jpg`. A locale has 1 to 3 captions (most have 2); keys other
than `image/key` and the locales' `caption` lists are ignored. Every locale ranks against the same gallery
(all images of the file), so per-image ranks align across locales for MRV; an image without captions in a
locale stays in that locale's gallery with no query (reported, as an empty caption is elsewhere).

Caption protocols (named in every result): `all` = every caption of the locale is a query and an image is
found when any of its captions is (big_vision, Meta CLIP 2); `first` = only the first caption of each image
(CLIP_benchmark's `crossmodal3600` loader).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ccrk.errors import DataError
from ccrk.formats.eval_set import EvalSetBuilder
from ccrk.formats.iglue import RetrievalEvalSet
from ccrk.formats.image_policy import MissingImages
from ccrk.io import iter_jsonl

LOCALES = (
    "ar bn cs da de el en es fa fi fil fr he hi hr hu id it ja ko mi nl no pl pt quz ro ru sv sw te th tr uk vi zh"
).split()
CAPTION_PROTOCOLS = ("all", "first")
KEY = "image/key"


@dataclass
class XM3600Record:
    line: int  # 1-based line in captions.jsonl
    key: str  # image/key; the image file is {key}.jpg
    captions: dict[str, list[str]] = field(default_factory=dict)  # locale -> captions; absent locale: none


def _check_record(path, line: int, obj: dict, locales) -> XM3600Record:
    key = obj.get(KEY)
    if not isinstance(key, str) or not key.strip():
        raise DataError(path, line, KEY, f"expected a non-empty string, got {key!r}")
    rec = XM3600Record(line, key)
    for loc in locales:
        if loc not in obj:
            continue  # an image missing a locale: no query there, counted by the caller
        entry = obj[loc]
        if not isinstance(entry, dict) or "caption" not in entry:
            raise DataError(path, line, loc, f"expected an object with a 'caption' list, got {entry!r:.80}")
        captions = entry["caption"]
        if isinstance(captions, str):  # one caption written without its list
            captions = [captions]
        if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
            raise DataError(path, line, f"{loc}.caption", f"expected a list of strings, got {captions!r:.80}")
        rec.captions[loc] = captions
    return rec


def read_xm3600(path, locales=LOCALES) -> list[XM3600Record]:
    """Every line of captions.jsonl, validated; duplicate keys and unknown locales stop with file and line."""
    unknown = sorted(set(locales) - set(LOCALES))
    if unknown:
        raise ValueError(f"unknown XM3600 locale(s) {unknown}; expected some of {LOCALES}")
    records, first_line = [], {}
    for line, obj in iter_jsonl(path):
        rec = _check_record(path, line, obj, locales)
        if rec.key in first_line:
            raise DataError(path, line, KEY, f"image {rec.key!r} already on line {first_line[rec.key]}")
        first_line[rec.key] = line
        records.append(rec)
    if not records:
        raise DataError(path, None, None, "no image lines")
    return records


def xm3600_eval_sets(
    path,
    images_dir,
    locales=LOCALES,
    protocol: str = "all",
    missing_images: str = "fail",
) -> tuple[dict[str, RetrievalEvalSet], dict]:
    """{locale: eval set over one shared gallery} under a caption protocol, and a report of what was left out.

    `missing_images` is the data.missing_images policy for absent `{key}.jpg` files: `skip` drops the image
    from every locale's gallery alike (counted), so the galleries stay identical.
    """
    if protocol not in CAPTION_PROTOCOLS:
        raise ValueError(f"XM3600 caption protocol {protocol!r}: expected one of {CAPTION_PROTOCOLS}")
    records = read_xm3600(path, locales)
    policy = MissingImages(images_dir, missing_images)
    kept = [r for r in records if policy.keep(f"{r.key}.jpg", path, r.line, KEY)]
    sets, without = {}, {}
    for loc in locales:
        builder = EvalSetBuilder(path)
        for r in kept:
            captions = r.captions.get(loc, [])
            if not captions:
                builder.out.dropped.append((r.line, f"no {loc} caption"))
            source = str(policy.root / f"{r.key}.jpg")
            builder.add(r.key, source, r.line, captions[:1] if protocol == "first" else captions, KEY)
        sets[loc] = builder.out
        without[loc] = sum(1 for r in kept if not r.captions.get(loc))
    report = {
        "images": len(kept),
        "caption_protocol": protocol,
        "images_without_locale": {k: v for k, v in without.items() if v},
        **policy.report(),
    }
    return sets, report
