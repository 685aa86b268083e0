"""Reader of the IGLUE WIT annotation files (docs/method.md#wit), plain or joined with their pixels.

One line per (image, caption): `image_url`, `caption_reference_description`, `language`, `wit_ix`, ...
The WIT pixel join (docs/method.md#wit) adds `image_content` (base64 image bytes); a record may instead name a file
with `image_path` (relative to an image root). Captions are grouped by `image_url`: `image_idx` is not a
unique image key in the published files (see tests/fixtures/iglue/SOURCE.md).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ccrk.data.text import BLANK, blank_caption
from ccrk.errors import DataError
from ccrk.formats.eval_set import EvalSetBuilder
from ccrk.formats.iglue import RetrievalEvalSet, RetrievalTrainItem
from ccrk.formats.paths import join_under
from ccrk.io import iter_jsonl

REQUIRED = ("image_url", "caption_reference_description", "language", "wit_ix")


@dataclass
class WitRecord:
    line: int  # 1-based line in the source file
    image_url: str  # the image key
    caption: str  # caption_reference_description, raw
    language: str
    wit_ix: str
    image: str | bytes | None  # resolved image_path, decoded image_content, or None (annotations only)


def _image(path, line: int, obj: dict, image_root) -> str | bytes | None:
    if "image_content" in obj:
        try:
            return base64.b64decode(obj["image_content"], validate=True)
        except (binascii.Error, TypeError, ValueError) as e:
            raise DataError(path, line, "image_content", f"expected base64 image bytes: {e}") from None
    if "image_path" in obj:
        if image_root is None:
            raise DataError(path, line, "image_path", "records name image files but no image root was given")
        try:
            return str(join_under(image_root, obj["image_path"]))
        except (ValueError, TypeError) as e:
            raise DataError(path, line, "image_path", str(e)) from None
    return None


def read_wit(path, image_root=None) -> list[WitRecord]:
    """Validate every line; errors name file, line and field."""
    records = []
    for line, obj in iter_jsonl(path):
        for key in REQUIRED:
            if not isinstance(obj.get(key), str):
                raise DataError(path, line, key, f"expected a string, got {obj.get(key)!r}")
        if not obj["image_url"]:
            raise DataError(path, line, "image_url", "empty; it is the image key")
        records.append(
            WitRecord(
                line,
                obj["image_url"],
                obj["caption_reference_description"],
                obj["language"],
                obj["wit_ix"],
                _image(path, line, obj, image_root),
            )
        )
    return records


def _with_images(path, records: list[WitRecord]) -> list[WitRecord]:
    for r in records:
        if r.image is None:
            raise DataError(
                path,
                r.line,
                "image_content",
                f"no pixels for {r.image_url}: expected the "
                "WIT pixel join (image_content, base64) or image_path",
            )
    return records


def load_wit_eval_set(path, image_root=None) -> RetrievalEvalSet:
    """Gallery = distinct image_url in file order; each non-empty caption is a query."""
    builder = EvalSetBuilder(path)
    for r in _with_images(path, read_wit(path, image_root)):
        builder.add(("wit", r.image_url), r.image, r.line, [r.caption], "image_url")
    return builder.out


def load_wit_train_set(path, image_root=None) -> tuple[list[RetrievalTrainItem], list[tuple[int, str]]]:
    """One item per non-empty caption; captions of one image_url share image_idx."""
    items, dropped, index = [], [], {}
    for r in _with_images(path, read_wit(path, image_root)):
        idx = index.setdefault(r.image_url, len(index))
        if blank_caption(r.caption):
            dropped.append((r.line, BLANK.format(r.caption)))
            continue
        items.append(RetrievalTrainItem(image_path=r.image, caption=r.caption, image_idx=idx, line=r.line))
    return items, dropped
