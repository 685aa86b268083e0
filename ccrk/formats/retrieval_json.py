"""Reader of the Multi30K / MSCOCO retrieval JSON files, as CCLM's Retrieval.py reads them.

The format is docs/method.md#multi30k-and-mscoco-json.

Train: a list of `{"caption": str, "image": "<path under the image root>", "image_id": int | str}`, one per
caption. Val/test: a list of `{"image": path, "caption": [str, ...], "image_id": ...}`, one per image.
Errors name the file, the record (0-based list index) and the field.
"""

from __future__ import annotations

from ccrk.data.text import BLANK, blank_caption
from ccrk.errors import DataError
from ccrk.formats.eval_set import EvalSetBuilder
from ccrk.formats.iglue import RetrievalEvalSet, RetrievalTrainItem
from ccrk.formats.paths import join_under
from ccrk.io import read_json


def _records(path) -> list[dict]:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(path, None, None, f"expected a JSON list of records, got {type(data).__name__}")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise DataError(path, f"record {i}", None, f"expected an object, got {type(rec).__name__}")
        for key in ("image", "caption"):
            if key not in rec:
                raise DataError(path, f"record {i}", key, f"missing; got keys {sorted(rec)}")
    return data


def _resolve(path, i: int, rec: dict, image_root) -> str:
    if not isinstance(rec["image"], str):
        raise DataError(path, f"record {i}", "image", f"expected a path string, got {rec['image']!r}")
    try:
        return str(join_under(image_root, rec["image"]))
    except ValueError as e:
        raise DataError(path, f"record {i}", "image", str(e)) from None


def load_json_eval_set(path, image_root) -> RetrievalEvalSet:
    """One gallery image per distinct image path (file order); each caption of its list is a query."""
    builder = EvalSetBuilder(path)
    for i, rec in enumerate(_records(path)):
        captions = rec["caption"]
        if isinstance(captions, str):  # a single caption written without its list
            captions = [captions]
        if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
            raise DataError(path, f"record {i}", "caption", f"expected a list of strings, got {captions!r}")
        source = _resolve(path, i, rec, image_root)
        builder.add(("image", source), source, i, captions, "image")
    return builder.out


def load_json_train_set(path, image_root) -> tuple[list[RetrievalTrainItem], list[tuple[int, str]]]:
    """One item per record; records of the same image share image_idx."""
    items, dropped, index = [], [], {}
    for i, rec in enumerate(_records(path)):
        if not isinstance(rec["caption"], str):
            raise DataError(path, f"record {i}", "caption", f"expected a string, got {rec['caption']!r}")
        source = _resolve(path, i, rec, image_root)
        idx = index.setdefault(source, len(index))
        if blank_caption(rec["caption"]):
            dropped.append((i, BLANK.format(rec["caption"])))
            continue
        items.append(RetrievalTrainItem(image_path=source, caption=rec["caption"], image_idx=idx, line=i))
    return items, dropped
