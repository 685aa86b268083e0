"""The fine-tuning JSON files of Multi30K and MSCOCO (docs/method.md#multi30k-and-mscoco-json), as CCLM/CCRK read them.

Train: a list of `{"caption": str, "image": path, "image_id": id}`, one entry per caption.
Val/test: a list of `{"image": path, "caption": [str, ...], "image_id": id}`, one entry per image.
`image` is relative to the fine-tuning image root (`images/` in the original: `flickr30k-images/...`,
`coco/train2014/...`, `coco/val2014/...`), so the authors' files and these are interchangeable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ccrk.formats.image_policy import MissingImages
from ccrk.io import atomic_open
from ccrk.metrics import fold_slices


@dataclass
class ImageCaptions:
    image: str  # relative to the fine-tuning image root
    image_id: int | str  # COCO id (int) or Flickr id (str), as the sources give them
    captions: list[str] = field(default_factory=list)  # raw, in source order
    source: str = ""  # "file:line" (or record) it came from, for error messages


def train_entries(items: list[ImageCaptions]) -> list[dict]:
    return [{"caption": c, "image": it.image, "image_id": it.image_id} for it in items for c in it.captions]


def eval_entries(items: list[ImageCaptions]) -> list[dict]:
    return [{"image": it.image, "caption": list(it.captions), "image_id": it.image_id} for it in items]


def write_entries(path, entries: list[dict]) -> None:
    """One JSON list, compact (the COCO train file has 566k entries), raw UTF-8, atomically."""
    with atomic_open(path) as f:
        json.dump(entries, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def keep_with_images(items: list[ImageCaptions], images: MissingImages, source) -> list[ImageCaptions]:
    """Items whose image exists under the root (per the missing-image policy) and that have captions."""
    return [it for it in items if it.captions and images.keep(it.image, it.source or source)]


def write_split(path, items: list[ImageCaptions], train: bool) -> dict:
    """Write one split file; returns its counts for the report."""
    write_entries(path, train_entries(items) if train else eval_entries(items))
    return {"images": len(items), "captions": sum(len(it.captions) for it in items)}


def write_test_folds(path_of, items: list[ImageCaptions], folds: int) -> dict:
    """The test set in `folds` contiguous files, path_of(k) each, cut by `ccrk.metrics.fold_slices`: the images
    evaluation ranks together when it folds the whole test file in memory with the same count."""
    return {
        k: write_split(path_of(k), items[r.start : r.stop], False)
        for k, r in enumerate(fold_slices(len(items), folds))
    }
