"""How a finished download shard is stored: loose files, or a webdataset tar in img2dataset's layout.

Both writers take the same input: the shard's manifest records (row order) and a staging folder holding
`<key>.jpg` of every stored row. `files` renames the folder into place; `webdataset` writes
`<stem>.tar` (members `<key>.jpg`, `<key>.json`, `<key>.txt`, as webdataset's TarWriter orders them),
`<stem>.parquet` (one row per URL) and `<stem>_stats.json` with img2dataset's names
(https://github.com/rom1504/img2dataset, writer.py and logger.py), so tools that read its output read ours.
The tar is written in row order with a fixed mtime, each file to a temporary name and renamed: a shard
resumed after a kill yields the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ccrk.io import atomic_path

OUTPUT_FORMATS = ("webdataset", "files")
TAR_MTIME = 0  # fixed integer mtime: the same bytes every time, and no PAX header per member
# error kinds raised while decoding (img2dataset's failed_to_resize); every other kind failed to download
DECODE_KINDS = frozenset({"not_image", "decode", "too_many_pixels"})
# img2dataset's parquet columns (caption, url, then what its downloader adds), then ccrk's own
PARQUET_SCHEMA = pa.schema(
    [
        ("caption", pa.string()),
        ("url", pa.string()),
        ("key", pa.string()),
        ("status", pa.string()),
        ("error_message", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("original_width", pa.int32()),
        ("original_height", pa.int32()),
        ("exif", pa.string()),
        ("sha256", pa.string()),
        ("row", pa.int64()),
        ("error_kind", pa.string()),
        ("bytes", pa.int64()),
    ]
)


def img2dataset_status(rec: dict) -> str:
    if rec["status"] == "success":
        return "success"
    return "failed_to_resize" if rec["error_kind"] in DECODE_KINDS else "failed_to_download"


def sample_meta(rec: dict) -> dict:
    """The `<key>.json` member and parquet row of a manifest record, under img2dataset's field names.

    `exif` is always null: ccrk applies the EXIF orientation when it stores an image and keeps no tags.
    """
    return {
        "caption": rec["caption"],
        "url": rec["url"],
        "key": rec["key"],
        "status": img2dataset_status(rec),
        "error_message": rec["error"],
        "width": rec["width"],
        "height": rec["height"],
        "original_width": rec["original_width"],
        "original_height": rec["original_height"],
        "exif": None,
        "sha256": rec["sha256"],
        "row": rec["row"],
        "error_kind": rec["error_kind"],
        "bytes": rec["bytes"],
    }


def shard_paths(images_root, subdir: str) -> dict[str, Path]:
    """Where a shard named `subdir` (e.g. `cc3m/00007`) is stored in each format, and its staging folder."""
    stem = Path(images_root) / subdir
    return {
        "files": stem,
        "tar": stem.with_name(stem.name + ".tar"),
        "parquet": stem.with_name(stem.name + ".parquet"),
        "stats": stem.with_name(stem.name + "_stats.json"),
        "staging": stem.with_name(stem.name + ".partial"),
    }


def img2dataset_stats(records: list[dict], start_time: float, end_time: float) -> dict:
    """`<stem>_stats.json` as img2dataset's write_stats: counts, times, and how often each outcome occurred."""
    status = [img2dataset_status(r) for r in records]
    return {
        "count": len(records),
        "successes": status.count("success"),
        "failed_to_download": status.count("failed_to_download"),
        "failed_to_resize": status.count("failed_to_resize"),
        "duration": end_time - start_time,
        "start_time": start_time,
        "end_time": end_time,
        "status_dict": dict(
            Counter("success" if s == "success" else r["error"] for s, r in zip(status, records))
        ),
    }


def write_files(records: list[dict], staging: Path, paths: dict) -> None:
    """Loose files: the staging folder becomes `<images_root>/<subdir>/`."""
    final = paths["files"]
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


def write_webdataset(records: list[dict], staging: Path, paths: dict, start_time: float) -> None:
    """Tar (row order), parquet and stats from the staged images; the staging folder is removed last."""
    from webdataset import TarWriter  # imports torch: only a shard that writes a tar pays for it

    with atomic_path(paths["tar"]) as tmp, open(tmp, "wb") as stream:
        with TarWriter(stream, mtime=TAR_MTIME, encoder=False) as tar:  # values are bytes already
            for rec in records:
                if rec["status"] == "success":
                    tar.write(
                        {
                            "__key__": rec["key"],
                            "jpg": (staging / f"{rec['key']}.jpg").read_bytes(),
                            "txt": (rec["caption"] or "").encode(),
                            "json": json.dumps(sample_meta(rec), indent=4, ensure_ascii=False).encode(),
                        }
                    )
    table = pa.Table.from_pylist([sample_meta(r) for r in records], schema=PARQUET_SCHEMA)
    with atomic_path(paths["parquet"]) as tmp:
        pq.write_table(table, tmp)
    with atomic_path(paths["stats"]) as tmp:
        tmp.write_text(json.dumps(img2dataset_stats(records, start_time, time.time()), indent=4) + "\n")
    shutil.rmtree(staging)


def unpack_images(tar_path: Path, staging: Path) -> None:
    """The stored images of a finished webdataset shard back into a staging folder (to retry its failures)."""
    staging.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "r:") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".jpg") and "/" not in member.name:
                (staging / member.name).write_bytes(tar.extractfile(member).read())


def write_shard(
    output_format: str, records: list[dict], staging: Path, paths: dict, start_time: float
) -> None:
    if output_format == "files":
        write_files(records, staging, paths)
    elif output_format == "webdataset":
        write_webdataset(records, staging, paths, start_time)
    else:
        raise ValueError(f"download.output_format {output_format!r}: expected one of {OUTPUT_FORMATS}")
