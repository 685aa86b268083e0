"""One entry point for the retrieval datasets of every protocol: IGLUE jsonl, WIT jsonl, Multi30K/MSCOCO JSON."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ccrk.formats.eval_set import CAPTIONLESS, without_captionless_images
from ccrk.formats.iglue import RetrievalEvalSet, RetrievalTrainItem, load_eval_set, load_train_set
from ccrk.formats.retrieval_json import load_json_eval_set, load_json_train_set
from ccrk.formats.wit import load_wit_eval_set, load_wit_train_set

log = logging.getLogger("ccrk.data.sets")

FORMATS = ("iglue", "wit", "json")  # xFlickr&CO / Flickr30K, WIT, Multi30K / MSCOCO


@dataclass(frozen=True)
class ImageRoots:
    flickr: str = ""  # IGLUE Flickr30K images (img_path without 'COCO')
    coco: str = ""  # IGLUE COCO val2014 images
    root: str = ""  # what Multi30K/MSCOCO `image` paths and WIT `image_path`s are relative to


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown annotation format {fmt!r}; expected one of {FORMATS}")


def load_eval(path, fmt: str, roots: ImageRoots, captionless_images: str = "keep") -> RetrievalEvalSet:
    """An eval set; an image left without captions stays a distractor ("keep") or leaves the gallery ("drop")."""
    _check(fmt)
    if captionless_images not in CAPTIONLESS:
        raise ValueError(f"captionless_images must be one of {CAPTIONLESS}, got {captionless_images!r}")
    if fmt == "iglue":
        data = load_eval_set(path, roots.flickr, roots.coco)
    elif fmt == "wit":
        data = load_wit_eval_set(path, roots.root or None)
    else:
        data = load_json_eval_set(path, roots.root)
    if captionless_images == "drop":
        data = without_captionless_images(data)
    for line, reason in data.dropped:
        log.warning("%s:%s: %s", path, line, reason)
    return data


def load_train(paths, fmt: str, roots: ImageRoots) -> list[RetrievalTrainItem]:
    """Items of several files (e.g. all languages of Multi30K); the same image file keeps one image_idx."""
    _check(fmt)
    items: list[RetrievalTrainItem] = []
    index: dict = {}
    for n, path in enumerate([paths] if isinstance(paths, str) else paths):
        if fmt == "iglue":
            file_items, dropped = load_train_set(path, roots.flickr, roots.coco)
        elif fmt == "wit":
            file_items, dropped = load_wit_train_set(path, roots.root or None)
        else:
            file_items, dropped = load_json_train_set(path, roots.root)
        if dropped:
            log.warning(
                "%s: %d empty captions skipped (at %s)", path, len(dropped), [d[0] for d in dropped][:10]
            )
        for item in file_items:
            # a path is the same image in every file; in-memory pixels (WIT) are only known within their file
            key = item.image_path if isinstance(item.image_path, str) else (n, item.image_idx)
            item.image_idx = index.setdefault(key, len(index))
            items.append(item)
    return items
