"""MSCOCO caption sources -> the fine-tuning JSON `{lang}.{train,val,test}.json`.

The format is docs/method.md#multi30k-and-mscoco-json.

- en: Karpathy's `dataset_coco.json`; `restval` joins `train` (113,287 training images; forgetting it is a
  classic bug). Captions are the `raw` strings (tests/fixtures/karpathy/SOURCE.md).
- ja: YJ Captions 26k, one COCO caption JSON (`images`, `annotations`); it ships no split, so the split comes
  from files listing image ids, or else a seeded random split that the report marks as such.
- zh: COCO-CN, `<COCO file name>#<n><TAB><sentence>` lines whose images mix train2014 and val2014 and whose
  lines of one image are far apart; split files list the image names.
A test set evaluated in k folds (`protocols.mscoco.folds`, CCRK: 5 for en and ja) is also written as its k fold
files (`{lang}.test.fold{i}.json`), cut as evaluation cuts it (`ccrk.metrics.fold_slices`).
"""

from __future__ import annotations

import posixpath
import random
import re
from collections import defaultdict
from pathlib import Path

from ccrk.errors import DataError
from ccrk.formats.caption_json import ImageCaptions, keep_with_images, write_split, write_test_folds
from ccrk.formats.image_policy import MissingImages
from ccrk.io import iter_lines, read_json, write_json

SPLITS = ("train", "val", "test")
KARPATHY_SPLIT = {"train": "train", "restval": "train", "val": "val", "test": "test"}
_COCO_NAME = re.compile(r"^COCO_(train2014|val2014)_(\d{12})(\.jpg)?$")


def coco_image(name: str, image_dir: str = "coco") -> tuple[str, int]:
    """(image path under the root, COCO id) of a COCO 2014 file name, with or without `.jpg`."""
    m = _COCO_NAME.match(name)
    if not m:
        raise ValueError(f"expected a COCO 2014 file name like COCO_val2014_000000391895.jpg, got {name!r}")
    stem = name if not m[3] else name[: -len(".jpg")]
    return posixpath.normpath(posixpath.join(image_dir, m[1], f"{stem}.jpg")), int(m[2])


def _field(path, where: str, record: dict, key: str, kind):
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(
            path, None, f"{where}.{key}", f"expected {getattr(kind, '__name__', kind)}, got {value!r:.80}"
        )
    return value


def read_karpathy(path, image_dir: str = "coco") -> dict[str, list[ImageCaptions]]:
    data = read_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise DataError(path, None, "images", "expected Karpathy's {'images': [...], 'dataset': 'coco'}")
    out = {split: [] for split in SPLITS}
    for i, rec in enumerate(images):
        where = f"images[{i}]"
        split = _field(path, where, rec, "split", str)
        if split not in KARPATHY_SPLIT:
            raise DataError(
                path, None, f"{where}.split", f"expected one of {sorted(KARPATHY_SPLIT)}, got {split!r}"
            )
        folder, name = _field(path, where, rec, "filepath", str), _field(path, where, rec, "filename", str)
        try:
            image, coco_id = coco_image(name, image_dir)
        except ValueError as e:
            raise DataError(path, None, f"{where}.filename", str(e)) from None
        if image != posixpath.normpath(posixpath.join(image_dir, folder, name)):
            raise DataError(
                path, None, f"{where}.filepath", f"{folder!r} does not match the file name {name!r}"
            )
        cocoid = _field(path, where, rec, "cocoid", int)
        if cocoid != coco_id:
            raise DataError(path, None, f"{where}.cocoid", f"{cocoid} does not match the file name {name!r}")
        sentences = _field(path, where, rec, "sentences", list)
        captions = [_field(path, f"{where}.sentences[{j}]", s, "raw", str) for j, s in enumerate(sentences)]
        out[KARPATHY_SPLIT[split]].append(ImageCaptions(image, cocoid, captions, f"{path}: {where}"))
    return out


def _image_id(value, path, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():  # readers found both int and str ids
        return int(value)
    raise DataError(path, None, where, f"expected a COCO image id, got {value!r:.80}")


def read_yjcaptions(path, image_dir: str = "coco") -> tuple[list[ImageCaptions], dict]:
    """Items in the order of `images`, captions grouped by `image_id`; orphans and caption-less images counted."""
    data = read_json(path)
    for key in ("images", "annotations"):
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, list):
            raise DataError(path, None, key, f"expected a list in a COCO caption file, got {value!r:.80}")
    captions = defaultdict(list)
    for j, a in enumerate(data["annotations"]):
        image_id = _image_id(
            a.get("image_id") if isinstance(a, dict) else None, path, f"annotations[{j}].image_id"
        )
        captions[image_id].append(_field(path, f"annotations[{j}]", a, "caption", str))
    items, seen = [], set()
    for i, im in enumerate(data["images"]):
        image_id = _image_id(im.get("id") if isinstance(im, dict) else None, path, f"images[{i}].id")
        name = im.get("file_name") or f"COCO_train2014_{image_id:012d}.jpg"
        if not isinstance(name, str):
            raise DataError(
                path, None, f"images[{i}].file_name", f"expected a COCO file name, got {name!r:.80}"
            )
        try:
            image, named_id = coco_image(name, image_dir)
        except ValueError as e:
            raise DataError(path, None, f"images[{i}].file_name", str(e)) from None
        if named_id != image_id:
            raise DataError(path, None, f"images[{i}].file_name", f"{name!r} does not match id {image_id}")
        seen.add(image_id)
        items.append(ImageCaptions(image, image_id, captions.get(image_id, []), f"{path}: images[{i}]"))
    counts = {
        "annotations_without_image": sum(len(c) for k, c in captions.items() if k not in seen),
        "images_without_captions": sum(1 for it in items if not it.captions),
    }
    return [it for it in items if it.captions], counts


def _split_ids(path) -> set[int]:
    """Image ids listed one per line, as numbers or COCO file names."""
    ids = set()
    for n, line in iter_lines(path):
        token = line.strip()
        if not token:
            continue
        try:
            ids.add(int(token) if token.isdigit() else coco_image(token)[1])
        except ValueError as e:
            raise DataError(path, n, None, str(e)) from None
    return ids


def split_items(
    items: list[ImageCaptions], split_files: dict | None = None, sizes: dict | None = None, seed: int = 0
) -> tuple[dict[str, list[ImageCaptions]], str]:
    """Split by files listing the val/test image ids (the rest is train), or else a seeded random split of
    `sizes` = {"val": n, "test": n}; returns the splits (source order kept) and how they were made."""
    if split_files:
        listed = {split: _split_ids(p) for split, p in split_files.items()}
        how = "files"
    else:
        ids = sorted(it.image_id for it in items)
        random.Random(seed).shuffle(ids)
        sizes = sizes or {}
        n_val, n_test = sizes.get("val", 0), sizes.get("test", 0)
        if n_val + n_test >= len(ids):
            raise ValueError(f"val {n_val} + test {n_test} images leave no training images of {len(ids)}")
        listed = {"test": set(ids[:n_test]), "val": set(ids[n_test : n_test + n_val])}
        how = f"seeded random (seed {seed}), not the authors' split"
    out = {split: [] for split in SPLITS}
    for it in items:
        split = next((s for s in ("test", "val") if it.image_id in listed.get(s, ())), "train")
        out[split].append(it)
    return out, how


def read_coco_cn(caption_paths, split_paths: dict, image_dir: str = "coco") -> tuple[dict[str, list], dict]:
    """Splits of COCO-CN: captions grouped by image (ordered by #n) for the names each split file lists."""
    captions: dict[str, dict[int, str]] = defaultdict(dict)
    where: dict[tuple[str, int], str] = {}
    for path in caption_paths:
        for n, line in iter_lines(path):
            if not line.strip():
                continue
            key, tab, sentence = line.partition("\t")
            name, hash_, index = key.partition("#")
            if not tab or not hash_ or not index.isdigit():
                raise DataError(
                    path, n, "key", f"expected '<COCO name>#<n><TAB><sentence>', got {line[:80]!r}"
                )
            if not _COCO_NAME.match(name):
                raise DataError(path, n, "key", f"expected a COCO 2014 image name, got {name!r}")
            if int(index) in captions[name]:
                raise DataError(path, n, "key", f"{key} already given at {where[(name, int(index))]}")
            captions[name][int(index)] = sentence
            where[(name, int(index))] = f"{path}:{n}"
    out, missing = {}, 0
    for split, path in split_paths.items():
        out[split] = []
        for n, line in iter_lines(path):
            name = line.strip().removesuffix(".jpg")
            if not name:
                continue
            try:
                image, coco_id = coco_image(name, image_dir)
            except ValueError as e:
                raise DataError(path, n, None, str(e)) from None
            if name not in captions:
                missing += 1
                continue
            texts = [captions[name][k] for k in sorted(captions[name])]
            out[split].append(ImageCaptions(image, coco_id, texts, f"{path}:{n}"))
    return out, {"split_images_without_captions": missing}


def write_mscoco(
    lang: str,
    splits: dict[str, list[ImageCaptions]],
    out_dir,
    image_root=None,
    missing_images: str = "fail",
    folds: int = 1,
    **extra,
) -> dict:
    """Write `{lang}.{train,val,test}.json` (and, with folds > 1, the test folds); return the report."""
    images = MissingImages(image_root, missing_images)
    files = {}
    for split in SPLITS:
        items = keep_with_images(splits.get(split, []), images, split)
        files[f"{lang}.{split}"] = write_split(
            Path(out_dir) / f"{lang}.{split}.json", items, split == "train"
        )
        if split == "test" and folds > 1:
            try:
                written = write_test_folds(
                    lambda k: Path(out_dir) / f"{lang}.test.fold{k}.json", items, folds
                )
            except ValueError as e:  # evaluation would refuse the same split
                raise ValueError(f"{lang}.test: {e} (protocols.mscoco.folds)") from None
            files |= {f"{lang}.test.fold{k}": counts for k, counts in written.items()}
    return {"files": files, **extra, **images.report()}


def mscoco_files(
    lang: str,
    source,
    out_dir,
    image_root=None,
    missing_images: str = "fail",
    image_dir: str = "coco",
    splits: dict | None = None,
    captions=(),
    split_sizes: dict | None = None,
    seed: int = 0,
    folds: int = 1,
) -> dict:
    """Read one language's source, split it, write its files and `{lang}.report.json` (rule and CLI entry);
    `folds` > 1 writes the test folds too."""
    if lang == "en":
        data, extra = read_karpathy(source, image_dir), {"source": "karpathy", "restval": "joins train"}
    elif lang == "ja":
        items, extra = read_yjcaptions(source, image_dir)
        data, how = split_items(items, splits or None, split_sizes or {"val": 1000, "test": 5000}, seed)
        extra = {"source": "yjcaptions", **extra, "split": how}
    elif lang == "zh":
        if set(splits or {}) != set(SPLITS):
            raise ValueError(f"COCO-CN needs an image list per split {SPLITS}, got {sorted(splits or {})}")
        data, extra = read_coco_cn(captions, splits, image_dir)
        extra = {"source": "coco-cn", **extra}
    else:
        raise ValueError(f"no MSCOCO source for language {lang!r}; expected en, ja or zh")
    report = write_mscoco(lang, data, out_dir, image_root, missing_images, folds=folds, **extra)
    write_json(Path(out_dir) / f"{lang}.report.json", report)
    return report
