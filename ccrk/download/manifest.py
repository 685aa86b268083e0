"""Where a pretraining item's image is: a stored download (its `url` in a manifest), a file (`image_path`), or
a sample of a webdataset tar shard (its `key`, or its `url` in the shard's `.json`).

Items whose download failed are dropped and counted (CC3M's links rot: CCRK kept 1.86M of 3.3M); an image
that was never downloaded, whose file is absent or whose key no shard holds, follows the missing-image policy
(fail, or skip and count).
"""

from __future__ import annotations

import os
from collections import Counter

from ccrk.data.tar_shards import ShardIndex
from ccrk.errors import DataError
from ccrk.formats.image_policy import MissingImages
from ccrk.io import iter_jsonl


def stored_images(manifest_paths) -> dict[str, dict | None]:
    """URL -> where a download manifest stored it ({"image_path"} or {"tar", "key"}, relative to the images
    root); None for a failed download."""
    stored: dict[str, dict | None] = {}
    for path in manifest_paths:
        for line, rec in iter_jsonl(path):
            url, status = rec.get("url"), rec.get("status")
            if not isinstance(url, str) or status not in ("success", "failed"):
                raise DataError(path, line, "url/status", f"expected a manifest row, got {str(rec)[:80]}")
            if status == "success":
                if isinstance(rec.get("tar"), str) and isinstance(rec.get("key"), str):
                    stored[url] = {"tar": rec["tar"], "key": rec["key"]}
                elif isinstance(rec.get("path"), str):
                    stored[url] = {"image_path": rec["path"]}
                else:
                    raise DataError(path, line, "path", "a stored image needs its path (or its tar and key)")
            else:
                stored.setdefault(url, None)  # the same URL stored by another list wins
    return stored


class CorpusImages:
    def __init__(self, manifest_paths=(), image_root=None, missing_images: str = "fail", shards=()):
        self.stored = stored_images(manifest_paths)
        self.files = MissingImages(image_root, missing_images)
        self.shards = ShardIndex([os.path.normpath(p) for p in shards]) if shards else None
        self.counts = Counter({"image_download_failed": 0, "image_not_downloaded": 0, "image_key_missing": 0})

    def _missing(self, source, line, field: str, what: str, count: str) -> None:
        if self.files.policy == "fail":
            raise DataError(
                source, line, field, f"{what} (data.missing_images: fail; skip drops and counts such items)"
            )
        self.counts[count] += 1

    def _shard_item(self, tar_rel: str, key: str, source, line) -> dict | None:
        if not self.files.keep(tar_rel, source, line, "url"):
            return None
        root = self.files.root if self.files.root is not None else "."
        return {"shard": os.path.normpath(os.path.join(root, tar_rel)), "key": key}

    def resolve(self, source, line: int, obj: dict) -> dict | None:
        """Where the item's image is ({"image_path": path under the images root} or {"shard": tar path, "key"}),
        or None when the item is to be dropped (counted)."""
        if "url" in obj:
            url = obj["url"]
            if url in self.stored:
                where = self.stored[url]
                if where is None:
                    self.counts["image_download_failed"] += 1
                    return None
                if "tar" in where:
                    return self._shard_item(where["tar"], where["key"], source, line)
                rel = where["image_path"]
            elif self.shards is not None and url in self.shards.by_url:
                shard, key = self.shards.by_url[url]
                return {"shard": shard, "key": key}
            else:
                where = "no download manifest" + (" or shard" if self.shards is not None else "")
                self._missing(source, line, "url", f"{str(url)[:200]} is in {where}", "image_not_downloaded")
                return None
        elif "key" in obj:
            key = obj["key"]
            if not isinstance(key, str):
                raise DataError(
                    source, line, "key", f"expected the string key of a shard sample, got {key!r}"
                )
            if self.shards is None:
                raise DataError(source, line, "key", "lines name shard samples but no shards were given")
            shard = self.shards.find_key(key, source, line)
            if shard is None:
                self._missing(
                    source,
                    line,
                    "key",
                    f"{key!r} is in none of the {len(self.shards.paths)} shards",
                    "image_key_missing",
                )
                return None
            return {"shard": shard, "key": key}
        else:
            rel = obj.get("image_path")
            if not isinstance(rel, str):
                raise DataError(
                    source,
                    line,
                    "image_path",
                    "expected a relative path string, the `url` of a downloaded image or the `key` of a shard sample",
                )
        return {"image_path": rel} if self.files.keep(rel, source, line, "image_path") else None

    def report(self) -> dict:
        return {**self.counts, **self.files.report()}
