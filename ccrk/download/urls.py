"""Readers of image URL lists: CC3M TSV, SBU-style URL lines, COCO caption JSON (`coco_url`).

Every row gets a `key`, the file name its image is stored under: the 0-based row number zero-padded to
9 digits (CC3M and SBU have no ids; see tests/fixtures/cc3m/SOURCE.md), or the COCO file name without `.jpg`.
URLs are not checked here: an unusable URL is a failed row of the download manifest, counted like the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ccrk.errors import DataError
from ccrk.io import iter_lines, read_json

FORMATS = ("tsv", "urls", "coco")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class UrlRow:
    row: int  # 0-based line (tsv, urls) or index into `images` (coco)
    key: str  # file-name-safe id, unique within the list
    url: str
    caption: str  # "" when the list has none


def _lines(path):
    """(0-based line, text) of the non-blank lines: a blank line (e.g. a final one) is no row but keeps the
    numbering; bad bytes are an error naming the line, a byte-order mark is dropped."""
    for n, line in iter_lines(path):
        if line.strip():
            yield n - 1, line


def _read_tsv(path) -> list[UrlRow]:
    rows = []
    for i, line in _lines(path):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].strip():
            raise DataError(
                path,
                i + 1,
                "url",
                f"expected 'caption<TAB>url' (one TAB), got {len(fields) - 1} TABs in {line[:80]!r}",
            )
        rows.append(UrlRow(i, f"{i:09d}", fields[1].strip(), fields[0]))
    return rows


def _read_urls(path, captions_path=None) -> list[UrlRow]:
    rows = [UrlRow(i, f"{i:09d}", line.strip(), "") for i, line in _lines(path)]
    if captions_path is None:
        return rows
    captions = [c for _, c in iter_lines(captions_path)]
    needed = rows[-1].row + 1 if rows else 0
    if len(captions) < needed:
        raise DataError(
            captions_path,
            len(captions),
            None,
            f"{len(captions)} captions for the {needed} lines of {path}; expected one caption per URL line",
        )
    return [UrlRow(r.row, r.key, r.url, captions[r.row]) for r in rows]


def _type(value) -> str:
    return "null" if value is None else type(value).__name__


def _read_coco(path) -> list[UrlRow]:
    data = read_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise DataError(path, None, "images", "expected a COCO caption file with an 'images' list")
    annotations = data.get("annotations", [])
    if not isinstance(annotations, list):
        raise DataError(path, None, "annotations", f"expected a list of objects, got {_type(annotations)}")
    first_caption = {}
    for j, a in enumerate(annotations):
        if not isinstance(a, dict) or not isinstance(a.get("caption", ""), str):
            raise DataError(
                path,
                None,
                f"annotations[{j}]",
                f"expected {{'image_id': ..., 'caption': str}}, got {a!r:.80}",
            )
        first_caption.setdefault(str(a.get("image_id")), a.get("caption", ""))
    rows = []
    for i, im in enumerate(images):
        url = im.get("coco_url") or im.get("flickr_url") if isinstance(im, dict) else None
        name = im.get("file_name") if isinstance(im, dict) else None
        if not isinstance(url, str) or not isinstance(name, str):
            raise DataError(
                path, None, f"images[{i}]", "expected 'file_name' and 'coco_url' (or 'flickr_url')"
            )
        rows.append(UrlRow(i, name.rsplit(".", 1)[0], url, first_caption.get(str(im.get("id")), "")))
    return rows


def read_url_list(path, fmt: str, captions_path=None) -> list[UrlRow]:
    """Rows of a URL list in format `tsv` (caption<TAB>url, no header), `urls` (one URL per line, optional
    line-aligned captions file) or `coco` (COCO caption JSON); keys are checked to be unique and file-name safe."""
    if fmt == "tsv":
        rows = _read_tsv(path)
    elif fmt == "urls":
        rows = _read_urls(path, captions_path)
    elif fmt == "coco":
        rows = _read_coco(path)
    else:
        raise ValueError(f"unknown URL list format {fmt!r}; expected one of {FORMATS}")
    seen = set()
    for r in rows:
        if not _SAFE_KEY.match(r.key) or r.key in seen:
            raise DataError(path, r.row + 1, "key", f"{r.key!r} is not a unique file-name-safe key")
        seen.add(r.key)
    return rows
