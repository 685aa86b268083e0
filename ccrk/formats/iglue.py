"""Readers of the IGLUE xFlickr&CO / Flickr30K annotation files (docs/method.md#iglue-xflickrco).

Every line is `{"sentences": [...], "id": str | int, "img_path": "..."}`. The `id` changes type inside one
file (Flickr string ids, COCO int ids), so images are keyed by `image_key` = (source, str(id)) and the image
folder is chosen by whether 'COCO' occurs in `img_path`, as CCLM does.

Empty-caption policy (deviates from CCLM, which drops the whole line): a caption that is empty after strip()
is not a query and is reported in `dropped`; its image stays in the gallery so every language ranks against
the same images and per-image ranks stay aligned across languages (MRV).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ccrk.data.text import BLANK, blank_caption
from ccrk.errors import DataError
from ccrk.formats.paths import join_under
from ccrk.io import iter_jsonl


@dataclass
class IglueRecord:
    line: int  # 1-based line in the source file
    id: str | int  # exactly as in the file (str for Flickr, int for COCO in xFlickr&CO)
    img_path: str  # file name relative to the Flickr30K or COCO image root
    sentences: list[str]  # raw captions, unprocessed


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def _check_record(path, line: int, obj: dict) -> IglueRecord:
    """Validate one parsed line and turn it into an IglueRecord; errors name file, line and field."""
    for key in ("sentences", "id", "img_path"):
        if key not in obj:
            raise DataError(
                path, line, key, f"missing; expected keys sentences, id, img_path, got {sorted(obj)}"
            )
    sentences, id_, img_path = obj["sentences"], obj["id"], obj["img_path"]
    if not isinstance(sentences, list):
        raise DataError(path, line, "sentences", f"expected a list of strings, got {_type_name(sentences)}")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise DataError(path, line, "sentences", f"expected a string at index {i}, got {_type_name(s)}")
    # bool is a subclass of int, but `true` is never an image id
    if isinstance(id_, bool) or not isinstance(id_, (str, int)):
        raise DataError(path, line, "id", f"expected a string or an integer, got {_type_name(id_)} {id_!r}")
    if not isinstance(img_path, str) or not img_path:
        raise DataError(path, line, "img_path", f"expected a non-empty string, got {img_path!r}")
    return IglueRecord(line=line, id=id_, img_path=img_path, sentences=list(sentences))


def read_iglue(path) -> list[IglueRecord]:
    """Read and validate every line of an IGLUE jsonl file (raises DataError on the first bad line)."""
    return [_check_record(path, line, obj) for line, obj in iter_jsonl(path)]


def _is_coco(img_path: str) -> bool:
    # the CCLM/CCRK rule: the only thing that tells the two image folders apart
    return "COCO" in img_path


def image_key(record: IglueRecord) -> tuple[str, str]:
    """("coco", "391895") or ("flickr", "1007129816"): never mixes int and str ids or the two sources."""
    return ("coco" if _is_coco(record.img_path) else "flickr", str(record.id))


def resolve_image(img_path: str, flickr_root, coco_root) -> Path:
    """Join `img_path` to the COCO root if 'COCO' occurs in it, else to the Flickr30K root.

    Absolute paths and paths that leave the root (`../x`) raise ValueError.
    """
    return join_under(coco_root if _is_coco(img_path) else flickr_root, img_path)


@dataclass
class RetrievalEvalSet:
    image_paths: list[str]  # resolved image paths, in order of first appearance in the file
    texts: list[str]  # raw non-empty captions (pre_caption is the caller's job)
    txt2img: list[int]  # text index -> image index
    img2txt: list[list[int]]  # image index -> text indices (empty if all its captions were dropped)
    text_lines: list[int]  # source line of each text
    image_lines: list[int]  # source line where each image first appears
    dropped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) of skipped captions
    image_keys: list[tuple[str, str]] = field(default_factory=list)  # image_key of each image

    @property
    def n_images(self) -> int:
        return len(self.image_paths)

    @property
    def n_texts(self) -> int:
        return len(self.texts)


def _resolve_checked(path, rec: IglueRecord, flickr_root, coco_root) -> str:
    try:
        return str(resolve_image(rec.img_path, flickr_root, coco_root))
    except ValueError as e:
        raise DataError(path, rec.line, "img_path", str(e)) from None


def _empty_reason(i: int, s: str) -> str:
    return f"sentences[{i}]: " + BLANK.format(s)


def load_eval_set(path, flickr_root, coco_root) -> RetrievalEvalSet:
    """One gallery image per distinct image_key (file order); each non-empty sentence becomes a query text."""
    out = RetrievalEvalSet([], [], [], [], [], [], [], [])
    index: dict[tuple[str, str], int] = {}
    for rec in read_iglue(path):
        key = image_key(rec)
        resolved = _resolve_checked(path, rec, flickr_root, coco_root)
        if key not in index:
            index[key] = len(out.image_paths)
            out.image_paths.append(resolved)
            out.image_lines.append(rec.line)
            out.img2txt.append([])
            out.image_keys.append(key)
        elif out.image_paths[index[key]] != resolved:
            first = out.image_lines[index[key]]
            raise DataError(
                path,
                rec.line,
                "img_path",
                f"image {key} was {out.image_paths[index[key]]!r} on "
                f"line {first}, got {resolved!r}; expected one path per image",
            )
        img = index[key]
        for i, s in enumerate(rec.sentences):
            if blank_caption(s):
                out.dropped.append((rec.line, _empty_reason(i, s)))
                continue
            out.img2txt[img].append(len(out.texts))
            out.txt2img.append(img)
            out.texts.append(s)
            out.text_lines.append(rec.line)
    return out


@dataclass
class RetrievalTrainItem:
    image_path: str  # resolved image path
    caption: str  # raw caption (pre_caption is the caller's job)
    image_idx: int  # image_key mapped to 0..n-1 in order of first appearance
    line: int  # source line


def load_train_set(path, flickr_root, coco_root) -> tuple[list[RetrievalTrainItem], list[tuple[int, str]]]:
    """One item per (image, non-empty caption), plus the (line, reason) list of dropped empty captions."""
    items: list[RetrievalTrainItem] = []
    dropped: list[tuple[int, str]] = []
    index: dict[tuple[str, str], int] = {}
    for rec in read_iglue(path):
        resolved = _resolve_checked(path, rec, flickr_root, coco_root)
        idx = index.setdefault(image_key(rec), len(index))
        for i, s in enumerate(rec.sentences):
            if blank_caption(s):
                dropped.append((rec.line, _empty_reason(i, s)))
                continue
            items.append(RetrievalTrainItem(image_path=resolved, caption=s, image_idx=idx, line=rec.line))
    return items, dropped
