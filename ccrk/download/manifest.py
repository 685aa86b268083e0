"""Where a pretraining item's image is: a stored download (its `url` in a manifest) or a file (`image_path`).

Items whose download failed are dropped and counted (CC3M's links rot: CCRK kept 1.86M of 3.3M); an image
that was never downloaded, or whose file is absent, follows the missing-image policy (fail, or skip and count).
"""

from __future__ import annotations

from collections import Counter

from ccrk.errors import DataError
from ccrk.formats.image_policy import MissingImages
from ccrk.io import iter_jsonl


def stored_images(manifest_paths) -> dict[str, str | None]:
    """URL -> stored path (relative to the images root) of download manifests; None for a failed download."""
    stored: dict[str, str | None] = {}
    for path in manifest_paths:
        for line, rec in iter_jsonl(path):
            url, status = rec.get("url"), rec.get("status")
            if not isinstance(url, str) or status not in ("success", "failed"):
                raise DataError(path, line, "url/status", f"expected a manifest row, got {str(rec)[:80]}")
            if status == "success":
                if not isinstance(rec.get("path"), str):
                    raise DataError(path, line, "path", "a stored image needs its path")
                stored[url] = rec["path"]
            else:
                stored.setdefault(url, None)  # the same URL stored by another list wins
    return stored


class CorpusImages:
    def __init__(self, manifest_paths=(), image_root=None, missing_images: str = "fail"):
        self.stored = stored_images(manifest_paths)
        self.files = MissingImages(image_root, missing_images)
        self.counts = Counter({"image_download_failed": 0, "image_not_downloaded": 0})

    def resolve(self, source, line: int, obj: dict) -> str | None:
        """The item's image path under the images root, or None when the item is to be dropped (counted)."""
        if "url" in obj:
            url = obj["url"]
            if url in self.stored and self.stored[url] is None:
                self.counts["image_download_failed"] += 1
                return None
            rel = self.stored.get(url)
            if rel is None:
                if self.files.policy == "fail":
                    raise DataError(
                        source,
                        line,
                        "url",
                        f"{str(url)[:200]} is in no download manifest "
                        "(data.missing_images: fail; skip drops and counts such items)",
                    )
                self.counts["image_not_downloaded"] += 1
                return None
        else:
            rel = obj.get("image_path")
            if not isinstance(rel, str):
                raise DataError(
                    source,
                    line,
                    "image_path",
                    "expected a relative path string, or the `url` of a downloaded image",
                )
        return rel if self.files.keep(rel, source, line, "image_path") else None

    def report(self) -> dict:
        return {**self.counts, **self.files.report()}
