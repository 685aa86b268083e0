"""The WIT pixel join (docs/method.md#wit): IGLUE WIT annotations + Kaggle pixel CSVs -> annotations carrying the image.

Pixel files (`.csv` or `.csv.gz`) hold `image_url<TAB>base64<TAB>...` lines. Annotations are matched by
`image_url` (`image_idx` is not unique), so every caption of an image gets the same pixels. The output keeps
the CCRK layout: each annotation line unchanged plus `image_content` (base64). Unlike CCRK, annotations
whose image has no pixels are counted per file (policy `skip`) or stop the join (`fail`), never dropped silently.
Matched pixels wait in an SQLite file beside the outputs, so the train split need not fit in memory.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

from ccrk.download.verify import WEB_FORMATS
from ccrk.errors import DataError
from ccrk.formats.image_policy import POLICIES
from ccrk.io import atomic_open, decode_utf8, iter_jsonl, iter_raw_lines, write_json

log = logging.getLogger("ccrk.wit")


def iter_pixel_rows(path):
    """Yield (line, image_url, base64, problem) of a pixel CSV (a byte-order mark and a header line are
    skipped). A bad row is yielded, not raised, for the caller to count: a line without a TAB has base64 None;
    a line that is not UTF-8 has image_url None and the problem named."""
    for n, raw in iter_raw_lines(path):
        try:
            line = decode_utf8(path, n, raw)
        except DataError as e:
            yield n, None, None, str(e)
            continue
        url, tab, rest = line.partition("\t")
        if n == 1 and url == "image_url":
            continue
        if url:
            yield n, url, (rest.split("\t", 1)[0] if tab else None), None


def decode_pixels(b64: str | None) -> bytes:
    """The image bytes of a base64 field, verified to decode as an image (ValueError otherwise)."""
    if not b64:
        raise ValueError("no base64 field")
    try:
        data = base64.b64decode(b64, validate=True)
    except binascii.Error as e:
        raise ValueError(f"invalid base64: {e}") from None
    try:
        with Image.open(io.BytesIO(data), formats=WEB_FORMATS) as im:
            im.load()
    except Exception as e:
        raise ValueError(f"not a decodable image: {type(e).__name__}: {e}") from None
    return data


def pixel_files(paths) -> list[Path]:
    """The pixel CSVs of files and folders (`*.csv`, `*.csv.gz` inside, sorted)."""
    out = []
    for path in map(Path, paths):
        out += (
            sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
            if path.is_dir()
            else [path]
        )
    return out


@contextlib.contextmanager
def unzipped(path, work_dir):
    """`train_en.jsonl.zip` as published (one member), extracted beside the outputs for the join's duration."""
    if not str(path).endswith(".zip"):
        yield Path(path)
        return
    with zipfile.ZipFile(path) as z:
        members = [m for m in z.namelist() if m.endswith(".jsonl")]
        if len(members) != 1:
            raise DataError(path, None, None, f"expected one .jsonl member, got {z.namelist()[:5]}")
        folder = Path(tempfile.mkdtemp(prefix=".wit-unzipped.", dir=work_dir))
        plain = folder / Path(members[0]).name  # errors then name the member, e.g. train_en.jsonl:5
        with open(plain, "wb") as out, z.open(members[0]) as src:
            shutil.copyfileobj(src, out)
    try:
        yield plain
    finally:
        shutil.rmtree(folder)


def _wanted_urls(annotation_paths) -> set[str]:
    urls = set()
    for path in annotation_paths:
        for line, obj in iter_jsonl(path):
            url = obj.get("image_url")
            if not isinstance(url, str) or not url:
                raise DataError(path, line, "image_url", f"expected a non-empty string, got {url!r:.80}")
            urls.add(url)
    return urls


def _collect_pixels(db: sqlite3.Connection, pixel_paths, wanted: set[str]) -> dict:
    """Store the first decodable pixels of every wanted URL; return per-file counts."""
    stats = {}
    for path in pixel_paths:
        counts = {"rows": 0, "matched": 0, "bad_rows": 0, "bad_first": []}
        for n, url, b64, problem in iter_pixel_rows(path):
            counts["rows"] += 1
            if problem is None and (
                url not in wanted or db.execute("SELECT 1 FROM px WHERE url = ?", (url,)).fetchone()
            ):
                continue
            try:
                if problem is not None:
                    raise ValueError(problem.removeprefix(f"{path}:{n}: "))
                decode_pixels(b64)
            except ValueError as e:
                counts["bad_rows"] += 1
                if len(counts["bad_first"]) < 5:
                    counts["bad_first"].append(f"{path}:{n}: {e}")
                continue
            db.execute("INSERT INTO px VALUES (?, ?)", (url, b64))
            counts["matched"] += 1
        db.commit()
        stats[str(path)] = counts
        log.info("%s: %s", path, {k: v for k, v in counts.items() if k != "bad_first"})
    return stats


def _join_file(db, path, out_path, policy: str) -> dict:
    counts = {
        "annotations": 0,
        "images": 0,
        "joined_annotations": 0,
        "joined_images": 0,
        "annotations_without_image": 0,
        "images_without_pixels": 0,
        "first_without_image": [],
    }
    seen: dict[str, bool] = {}
    with atomic_open(out_path) as out:
        for line, obj in iter_jsonl(path):
            url = obj["image_url"]
            row = db.execute("SELECT b64 FROM px WHERE url = ?", (url,)).fetchone()
            counts["annotations"] += 1
            if url not in seen:
                seen[url] = row is not None
                counts["images"] += 1
                counts["joined_images" if row else "images_without_pixels"] += 1
            if row is None:
                if policy == "fail":
                    raise DataError(
                        path,
                        line,
                        "image_url",
                        f"no pixels for {url} in the pixel files "
                        "(data.missing_images: fail; skip drops and counts such annotations)",
                    )
                counts["annotations_without_image"] += 1
                if len(counts["first_without_image"]) < 5:
                    counts["first_without_image"].append(f"{path}:{line}: {url}")
                continue
            out.write(json.dumps({**obj, "image_content": row[0]}, ensure_ascii=False) + "\n")
            counts["joined_annotations"] += 1
    return counts


def join_wit(annotation_paths, pixel_paths, out_paths, report_path, missing_images: str = "skip") -> dict:
    """Join every annotation file (`.jsonl`, or `.jsonl.zip` as published) with the pixels of `pixel_paths`
    (CSV files or folders of them), in one pass over the pixels for all files."""
    if missing_images not in POLICIES:
        raise ValueError(f"missing-image policy {missing_images!r}: expected one of {POLICIES}")
    if len(annotation_paths) != len(out_paths):
        raise ValueError(f"{len(annotation_paths)} annotation files but {len(out_paths)} outputs")
    work_dir = Path(report_path).parent
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, db_path = tempfile.mkstemp(prefix=".wit-pixels.", suffix=".sqlite", dir=work_dir)
    os.close(fd)
    try:
        with contextlib.ExitStack() as stack:
            plain = [stack.enter_context(unzipped(p, work_dir)) for p in annotation_paths]
            wanted = _wanted_urls(plain)
            db = stack.enter_context(contextlib.closing(sqlite3.connect(db_path)))
            db.execute("CREATE TABLE px (url TEXT PRIMARY KEY, b64 TEXT NOT NULL)")
            pixels = _collect_pixels(db, pixel_files(pixel_paths), wanted)
            files = {
                str(a): _join_file(db, p, o, missing_images)
                for a, p, o in zip(annotation_paths, plain, out_paths)
            }
    finally:
        os.remove(db_path)
    report = {"annotation_files": files, "pixel_files": pixels, "wanted_images": len(wanted)}
    write_json(report_path, report)
    for path, counts in files.items():
        log.info(
            "%s: %d of %d annotations found no image",
            path,
            counts["annotations_without_image"],
            counts["annotations"],
        )
    return report
