"""Multi30K raw files -> the fine-tuning JSON of docs/method.md#multi30k-and-mscoco-json.

The raw layout is described in tests/fixtures/multi30k/SOURCE.md.

en and de take the 5 captions of task2 (Flickr30K English, 5 independent German descriptions), fr and cs the
one caption of task1 (CCLM issues #3/#7). Line i of every caption file is the image on line i of the split file.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from ccrk.errors import DataError
from ccrk.formats.caption_json import ImageCaptions, keep_with_images, write_split
from ccrk.formats.image_policy import MissingImages
from ccrk.io import iter_lines

# output split -> (task1 name, task2 name); task2 calls the 2016 test set plain `test_2016`
SPLITS = {
    "train": ("train", "train"),
    "val": ("val", "val"),
    "test_2016_flickr": ("test_2016_flickr", "test_2016"),
}
TASK2_LANGS = ("en", "de")  # 5 captions per image
TASK1_LANGS = ("fr", "cs")  # 1 caption per image


def read_lines(path) -> list[str]:
    """Lines of a text file, or of `<path>.gz` when only the compressed file is there (as published)."""
    path = Path(path)
    gz = path.with_name(path.name + ".gz")
    try:
        return [line for _, line in iter_lines(gz if not path.exists() and gz.exists() else path)]
    except FileNotFoundError:
        raise DataError(path, None, None, f"missing Multi30K file (also looked for {gz.name})") from None


def caption_files(root, split: str, lang: str) -> list[Path]:
    task1, task2 = SPLITS[split]
    root = Path(root)
    if lang in TASK2_LANGS:
        return [root / "task2" / "raw" / f"{task2}.{k}.{lang}" for k in range(1, 6)]
    if lang in TASK1_LANGS:
        return [root / "task1" / "raw" / f"{task1}.{lang}"]
    raise ValueError(f"Multi30K has no language {lang!r}; expected one of {TASK2_LANGS + TASK1_LANGS}")


def read_multi30k(root, split: str, lang: str, image_dir: str = "flickr30k-images") -> list[ImageCaptions]:
    """One item per image of the split file, with its captions in `lang` (files line-aligned, checked)."""
    split_file = Path(root) / "task1" / "image_splits" / f"{SPLITS[split][0]}.txt"
    names = read_lines(split_file)
    columns = []
    for path in caption_files(root, split, lang):
        lines = read_lines(path)
        if len(lines) != len(names):
            raise DataError(
                path,
                None,
                None,
                f"{len(lines)} lines, expected {len(names)}: one caption per image line of {split_file}",
            )
        columns.append(lines)
    items = []
    for i, name in enumerate(names):
        if not name.endswith(".jpg") or "/" in name or "\\" in name:
            raise DataError(
                split_file, i + 1, "image", f"expected a Flickr30K file name '<id>.jpg', got {name!r}"
            )
        image = posixpath.normpath(posixpath.join(image_dir, name))
        items.append(
            ImageCaptions(image, name[: -len(".jpg")], [col[i] for col in columns], f"{split_file}:{i + 1}")
        )
    return items


def write_multi30k(
    root, out_dir, langs, image_root=None, missing_images: str = "fail", image_dir: str = "flickr30k-images"
) -> dict:
    """Write `{train,val}.{lang}.json` and `test_2016_flickr.{lang}.json` for every language; return the report."""
    images = MissingImages(image_root, missing_images)
    report = {}
    for split in SPLITS:
        for lang in langs:
            items = keep_with_images(read_multi30k(root, split, lang, image_dir), images, root)
            report[f"{split}.{lang}"] = write_split(
                Path(out_dir) / f"{split}.{lang}.json", items, split == "train"
            )
    return {"files": report, **images.report()}
