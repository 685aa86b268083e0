"""Image download by shards: URL rows -> verified, resized JPEGs + a manifest row per URL + shard stats.

One shard is one job (the shard count is fixed when the DAG is built); inside it a thread pool fetches
concurrently. Progress is appended to `<manifest>.partial` as rows finish, so a killed shard resumes
without fetching its finished rows again; images are staged in `<images_root>/<subdir>.partial/` until the
shard completes, then stored by `ccrk.download.writers` (a webdataset tar, or the folder renamed into
place) and the manifest and stats are written atomically.
`retry_failed` fetches the failed rows of a finished shard again and rewrites its manifest.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import logging
import os
import queue
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ccrk.download.fetch import FETCH_KINDS, Fetcher, FetchError
from ccrk.download.urls import UrlRow, read_url_list
from ccrk.download.verify import IMAGE_KINDS, RESIZE_MODES, DecodeBudget, ImageRejected, verify_and_resize
from ccrk.download.writers import OUTPUT_FORMATS, shard_paths, unpack_images, write_shard
from ccrk.errors import CCRKError
from ccrk.io import iter_jsonl, read_json, write_json, write_jsonl

log = logging.getLogger("ccrk.download")
ERROR_KINDS = (*FETCH_KINDS, *IMAGE_KINDS, "other")  # every error_kind a manifest row can carry
OUTPUT_SETTINGS = (
    "image_size",
    "resize_mode",
    "quality",
    "output_format",
)  # what the stored shard looks like


class DownloadStalled(CCRKError):
    """The watchdog: a shard whose first rows almost all fail points at the network, not at the URLs."""


@dataclass
class DownloadConfig:
    image_size: int = 384  # stored size: the shorter side (keep_ratio) or the square side (center_crop)
    resize_mode: str = "keep_ratio"  # keep_ratio (never enlarges) | center_crop | none
    threads: int = 64  # concurrent downloads in one shard job (shard jobs in parallel add processes)
    timeout: float = 10.0  # seconds to connect, and for each read
    deadline: float = 30.0  # seconds one URL may take in all: DNS, connect, redirects, body, retries
    retries: int = 0  # extra tries after a timeout, a connection error or HTTP 5xx/429
    max_redirects: int = 10  # more redirects fail the row (this is how a redirect loop ends)
    max_bytes: int = 20_000_000  # a larger body is refused, by Content-Length or while it streams
    max_pixels: int = 50_000_000  # width x height cap, read from the header before decoding
    decode_pixels: int = 100_000_000  # pixels decoded at once across the shard's threads (~10 bytes each)
    max_retry_after: float = 10.0  # a longer Retry-After (429/503) ends the row instead of waiting
    allow_hosts: list[str] = field(default_factory=list)  # fetched despite the host policy (hosts, networks)
    watchdog_rows: int = 1000  # check the success rate once this many rows are fetched (0: never)
    watchdog_min_success: float = 0.05  # below it the shard stops: DNS down or a proxy in the way
    quality: int = 95  # JPEG quality of the stored images
    user_agent: str = "ccrk-download/0.1"
    output_format: str = (
        "webdataset"  # webdataset: <shard>.tar + .parquet + _stats.json; files: <shard>/<key>.jpg
    )

    def __post_init__(self):
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"download.resize_mode {self.resize_mode!r}: expected one of {RESIZE_MODES}")
        if self.max_pixels > self.decode_pixels:
            raise ValueError(
                f"download.max_pixels {self.max_pixels} is over download.decode_pixels {self.decode_pixels}: "
                "an image at the cap could never be decoded"
            )
        self.allow_hosts = [str(h) for h in self.allow_hosts]
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"download.output_format {self.output_format!r}: expected one of {OUTPUT_FORMATS}"
            )


def download_config(d: dict | None) -> DownloadConfig:
    known = {f.name for f in fields(DownloadConfig)}
    unknown = set(d or {}) - known
    if unknown:
        raise ValueError(
            f"download settings: unknown key(s) {sorted(unknown)}; expected some of {sorted(known)}"
        )
    return DownloadConfig(**(d or {}))


def shard_rows(rows: list, shard: int, n_shards: int) -> list:
    """Contiguous rows of shard `shard` of `n_shards`; sizes differ by at most one."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} outside 0..{n_shards - 1}")
    return rows[len(rows) * shard // n_shards : len(rows) * (shard + 1) // n_shards]


def _record(row: UrlRow, **values) -> dict:
    base = {
        "key": row.key,
        "row": row.row,
        "url": row.url,
        "caption": row.caption,
        "status": "failed",
        "error_kind": None,
        "error": None,
        "bytes": None,
        "width": None,
        "height": None,
        "original_width": None,
        "original_height": None,
        "sha256": None,
        "path": None,  # files: the image, relative to the images root
        "tar": None,  # webdataset: the shard's tar, relative to the images root; the member is <key>.jpg
    }
    return {**base, **values}


def _fetch_one(
    row: UrlRow, fetcher: Fetcher, cfg: DownloadConfig, out_dir: Path, subdir: str, budget
) -> dict:
    """Fetch, verify and store one row; every failure becomes a manifest record, never an exception."""
    try:
        data, content_type = fetcher.fetch(row.url)
        image = verify_and_resize(
            data, content_type, cfg.image_size, cfg.resize_mode, cfg.max_pixels, cfg.quality, budget
        )
    except (FetchError, ImageRejected) as e:
        return _record(row, error_kind=e.kind, error=str(e)[:500])
    except Exception as e:  # a URL from the wild must never stop the shard: record it, with its type
        return _record(row, error_kind="other", error=f"{type(e).__name__}: {e}"[:500])
    tmp = out_dir / f".{row.key}.jpg.tmp"  # one writer per key: a fixed temp name, renamed when complete
    tmp.write_bytes(image.jpeg)
    os.replace(tmp, out_dir / f"{row.key}.jpg")
    return _record(
        row,
        status="success",
        bytes=len(data),
        width=image.width,
        height=image.height,
        original_width=image.original_width,
        original_height=image.original_height,
        sha256=hashlib.sha256(data).hexdigest(),
        path=f"{subdir}/{row.key}.jpg",
    )


def _fetch_all(rows: list[UrlRow], cfg: DownloadConfig, out_dir: Path, subdir: str):
    """Yield a record per row as it finishes, with at most 2 x threads rows in flight."""
    fetcher = Fetcher(
        cfg.timeout,
        cfg.max_bytes,
        cfg.max_redirects,
        cfg.retries,
        cfg.threads,
        cfg.user_agent,
        cfg.deadline,
        cfg.max_retry_after,
        cfg.allow_hosts,
    )
    budget = DecodeBudget(cfg.decode_pixels)  # shared: memory is bounded across the shard, not per image
    finished: queue.SimpleQueue = (
        queue.SimpleQueue()
    )  # O(1) per row, unlike cf.wait over every pending future
    start = last_log = time.monotonic()
    in_flight = n = 0
    with (
        contextlib.closing(fetcher),
        cf.ThreadPoolExecutor(cfg.threads, thread_name_prefix="download") as pool,
    ):
        for row in [*rows, None]:
            if row is not None:
                pool.submit(_fetch_one, row, fetcher, cfg, out_dir, subdir, budget).add_done_callback(
                    finished.put
                )
                in_flight += 1
            while in_flight >= (2 * cfg.threads if row is not None else 1):
                in_flight -= 1
                n += 1
                yield finished.get().result()
            if time.monotonic() - last_log > 30:
                last_log = time.monotonic()
                log.info("%d/%d rows, %.1f rows/s", n, len(rows), n / (last_log - start))


def _watched(records, cfg: DownloadConfig, subdir: str):
    """Pass records through; once `watchdog_rows` have come, stop the shard if under `watchdog_min_success`
    of them succeeded: a dead network fails every row, and recording thousands of failures helps no one."""
    kinds: Counter = Counter()
    for n, rec in enumerate(records, start=1):
        kinds[rec["error_kind"] or "success"] += 1
        if n == cfg.watchdog_rows and kinds["success"] < cfg.watchdog_min_success * n:
            failed = dict(kinds.most_common())
            failed.pop("success", None)
            raise DownloadStalled(
                f"download shard {subdir}: {kinds['success']} of the first {n} rows succeeded, under "
                f"download.watchdog_min_success {cfg.watchdog_min_success:g}; failures {failed}. Is DNS or the "
                "network down, or a proxy answering in the servers' place? The shard stopped; its successes are "
                "kept and a rerun fetches the rest. For a list this dead, lower watchdog_min_success or set "
                "watchdog_rows: 0."
            )
        yield rec


def _load_progress(progress: Path, work_dir: Path, urls: dict[str, str]) -> dict[str, dict]:
    """Rows recorded before a kill (for the same key and URL); a cut-off last line and successes without their
    file are dropped."""
    done = {}
    if progress.exists():
        with open(progress, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the line being written when the job was killed
                if urls.get(rec.get("key")) != rec.get("url"):
                    continue
                if rec["status"] != "success" or (work_dir / f"{rec['key']}.jpg").exists():
                    done[rec["key"]] = rec
        write_jsonl(progress, done.values())  # compacted, so appending continues on a clean line
    return done


def _prune(folder: Path, keep: set[str]) -> None:
    """Remove temp files of a killed write and images not in `keep` (others' files, e.g. Snakemake's, stay)."""
    for path in folder.iterdir():
        if path.name.endswith((".tmp", ".jpg")) and path.name not in keep:
            path.unlink()


def _stats(records: list[dict], cfg: DownloadConfig, subdir: str, **extra) -> dict:
    ok = [r for r in records if r["status"] == "success"]
    return {
        "subdir": subdir,
        "count": len(records),
        "success": len(ok),
        "failed": len(records) - len(ok),
        "failed_by_kind": dict(
            sorted(Counter(r["error_kind"] for r in records if r["status"] != "success").items())
        ),
        "bytes_downloaded": sum(r["bytes"] for r in ok),
        **extra,
        "settings": asdict(cfg),
    }


def _stored(records: list[dict], cfg: DownloadConfig, subdir: str) -> list[dict]:
    """Records as the manifest keeps them: a webdataset image is named by its tar (and key), not a file."""
    if cfg.output_format == "files":
        return records
    return [{**r, "path": None, "tar": f"{subdir}.tar"} if r["status"] == "success" else r for r in records]


def download_shard(
    rows: list[UrlRow], images_root, subdir: str, manifest_path, stats_path, cfg: DownloadConfig
) -> dict:
    """Download `rows` into `images_root/subdir.tar` (webdataset) or `images_root/subdir/<key>.jpg` (files);
    write the manifest (row order) and the stats."""
    paths = shard_paths(images_root, subdir)
    work_dir = paths["staging"]
    progress, settings = Path(f"{manifest_path}.partial"), Path(f"{manifest_path}.partial.settings")
    if settings.exists() and json.loads(settings.read_text()) != asdict(cfg):
        progress.unlink(missing_ok=True)  # images of other settings are no progress: start over
    write_json(settings, asdict(cfg))
    work_dir.mkdir(parents=True, exist_ok=True)
    done = _load_progress(progress, work_dir, {r.key: r.url for r in rows})
    _prune(work_dir, {f"{k}.jpg" for k, r in done.items() if r["status"] == "success"})
    todo = [r for r in rows if r.key not in done]
    log.info("shard %s: %d rows, %d done before, %d to fetch", subdir, len(rows), len(done), len(todo))
    start_time, start = time.time(), time.monotonic()
    try:
        with open(progress, "a", encoding="utf-8") as f:
            for rec in _watched(_fetch_all(todo, cfg, work_dir, subdir), cfg, subdir):
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
                done[rec["key"]] = rec
    except DownloadStalled:  # the failures say nothing of the URLs: a rerun fetches them again
        write_jsonl(progress, [r for r in done.values() if r["status"] == "success"])
        raise
    seconds = time.monotonic() - start
    records = _stored([done[r.key] for r in rows], cfg, subdir)
    write_shard(cfg.output_format, records, work_dir, paths, start_time)
    write_jsonl(manifest_path, records)
    stats = _stats(
        records,
        cfg,
        subdir,
        fetched=len(todo),
        resumed=len(rows) - len(todo),
        seconds=round(seconds, 3),
        rows_per_second=round(len(todo) / seconds, 2) if seconds else None,
    )
    write_json(stats_path, stats)
    progress.unlink()
    settings.unlink()
    log.info("shard %s: %s", subdir, {k: v for k, v in stats.items() if k != "settings"})
    return stats


def retry_failed(
    manifest_path, stats_path, images_root, cfg: DownloadConfig | None = None, kinds: list[str] | None = None
) -> dict:
    """Fetch the failed rows (of `kinds`, default all) of a finished shard again; rewrite manifest and stats
    (and, for webdataset, the shard's tar, parquet and stats, rebuilt with the recovered images).

    Settings default to those the shard was downloaded with (kept in its stats); those that shape the stored
    images (OUTPUT_SETTINGS) must stay the same, so that a shard never holds images of two sizes. The watchdog
    does not apply: retried rows are failures by choice.
    """
    unknown = sorted(set(kinds or ()) - set(ERROR_KINDS))
    if unknown:
        raise ValueError(f"unknown error kind(s) {unknown}; expected some of {list(ERROR_KINDS)}")
    old = read_json(stats_path)
    shard_cfg = download_config(old["settings"])
    cfg = cfg or shard_cfg
    changed = [k for k in OUTPUT_SETTINGS if getattr(cfg, k) != getattr(shard_cfg, k)]
    if changed:
        raise CCRKError(
            f"{stats_path}: the shard was stored with "
            + ", ".join(f"{k} {getattr(shard_cfg, k)!r}" for k in changed)
            + "; retrying with "
            + ", ".join(f"{k} {getattr(cfg, k)!r}" for k in changed)
            + " would leave a shard of mixed images. Retry with the shard's settings, or delete its manifest "
            "and stats to download the whole shard again with the new ones."
        )
    subdir = old["subdir"]
    records = [rec for _, rec in iter_jsonl(manifest_path)]
    paths = shard_paths(images_root, subdir)
    folder = paths["files"] if cfg.output_format == "files" else paths["staging"]
    if cfg.output_format == "webdataset":
        shutil.rmtree(folder, ignore_errors=True)
        unpack_images(paths["tar"], folder)
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder, {f"{r['key']}.jpg" for r in records if r["status"] == "success"})
    todo = [
        UrlRow(r["row"], r["key"], r["url"], r["caption"])
        for r in records
        if r["status"] != "success" and (not kinds or r["error_kind"] in kinds)
    ]
    start_time, start = time.time(), time.monotonic()
    by_key = {r["key"]: r for r in records}
    for rec in _fetch_all(todo, cfg, folder, subdir):
        by_key[rec["key"]] = rec
    records = _stored([by_key[r["key"]] for r in records], cfg, subdir)
    recovered = sum(1 for r in todo if by_key[r.key]["status"] == "success")
    if cfg.output_format == "webdataset":
        write_shard(cfg.output_format, records, folder, paths, start_time)
    write_jsonl(manifest_path, records)
    stats = _stats(
        records,
        cfg,
        subdir,
        fetched=len(todo),
        resumed=len(records) - len(todo),
        seconds=round(time.monotonic() - start, 3),
        retried=len(todo),
        recovered=recovered,
    )
    write_json(stats_path, stats)
    log.info("retry %s: %d retried, %d recovered", subdir, len(todo), recovered)
    return stats


def download_list_shard(
    urls_path,
    fmt: str,
    shard: int,
    n_shards: int,
    images_root,
    subdir: str,
    manifest_path,
    stats_path,
    cfg: DownloadConfig,
    captions_path=None,
) -> dict:
    """Read a URL list, take shard `shard` of `n_shards`, download it (the rule's and the CLI's entry point)."""
    rows = shard_rows(read_url_list(urls_path, fmt, captions_path), shard, n_shards)
    return download_shard(rows, images_root, subdir, manifest_path, stats_path, cfg)


def summarize_shards(stats_paths) -> dict:
    """Totals over the shards of one URL list: rows, stored images, failures by kind (how much of it still lives)."""
    stats = [read_json(p) for p in stats_paths]
    count, success = sum(s["count"] for s in stats), sum(s["success"] for s in stats)
    kinds = sum((Counter(s["failed_by_kind"]) for s in stats), Counter())
    return {
        "shards": len(stats),
        "count": count,
        "success": success,
        "failed": count - success,
        "success_rate": round(success / count, 4) if count else None,
        "failed_by_kind": dict(sorted(kinds.items())),
        "bytes_downloaded": sum(s["bytes_downloaded"] for s in stats),
    }
