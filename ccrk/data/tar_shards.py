"""Webdataset tar shards as a pretraining image source: shard lists from config, and what the shards hold.

Shards are given as local paths, a brace pattern (`/data/cc3m/{00000..00331}.tar`) or a list of either.
A sample is the members sharing a key (`<key>.jpg`, `<key>.json`, `<key>.txt`: ccrk's and img2dataset's
layout; `.jpeg`, `.png` and `.webp` images are read too). The index reads member headers and each `.json`
(its `url` joins a caption line that names its image by URL), never the image bytes.
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections import Counter

from braceexpand import braceexpand

from ccrk.errors import DataError

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
log = logging.getLogger("ccrk.tar_shards")


def expand_shards(spec) -> list[str]:
    """The tar paths of a brace pattern or a list of paths/patterns, in order; a path given twice is an error."""
    patterns = [spec] if isinstance(spec, str) else list(spec or [])
    paths = [path for pattern in patterns for path in braceexpand(pattern)]
    twice = [p for p, n in Counter(paths).items() if n > 1]
    if twice:
        raise ValueError(f"shard {twice[0]!r} is listed twice in {spec!r}")
    return paths


def image_of(sample: dict) -> bytes | None:
    """The encoded image of a webdataset sample (the first of jpg, jpeg, png, webp it has)."""
    return next((sample[ext] for ext in IMAGE_EXTENSIONS if ext in sample), None)


def _scan(path: str) -> tuple[list[str], dict[str, str]]:
    """(keys of the samples that have an image, key -> url of their `.json`) of one tar, in member order."""
    from webdataset.tariterators import base_plus_ext  # webdataset imports torch: only when shards are read

    keys: dict[str, None] = {}
    urls: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = base_plus_ext(member.name)
                if key is None:
                    continue
                ext = ext.lower()
                if ext in IMAGE_EXTENSIONS:
                    keys[key] = None
                elif ext == "json":
                    try:
                        url = json.loads(tar.extractfile(member).read()).get("url")
                    except (ValueError, AttributeError):
                        continue  # a sample's metadata is optional: it only helps join by URL
                    if isinstance(url, str):
                        urls[key] = url
    except (OSError, tarfile.TarError) as e:
        raise DataError(path, None, None, f"not a readable tar shard: {type(e).__name__}: {e}") from None
    return list(keys), {k: u for k, u in urls.items() if k in keys}


class ShardIndex:
    """Which shard holds each key, and which (shard, key) each source URL was stored under."""

    def __init__(self, paths):
        self.paths = list(paths)
        self.by_key: dict[str, str] = {}
        self.by_url: dict[str, tuple[str, str]] = {}
        self.ambiguous: dict[str, list[str]] = {}  # key -> every shard that has it
        self.sizes: dict[str, int] = {}
        for path in self.paths:
            keys, urls = _scan(path)
            self.sizes[path] = len(keys)
            for key in keys:
                if key in self.by_key:
                    self.ambiguous.setdefault(key, [self.by_key[key]]).append(path)
                self.by_key.setdefault(key, path)
            for key, url in urls.items():
                self.by_url.setdefault(url, (path, key))
        log.info(
            "%d shards: %d samples, %d with a source URL", len(self.paths), len(self.by_key), len(self.by_url)
        )

    def find_key(self, key: str, source, line) -> str | None:
        """The shard holding `key` (None if none does); a key in several shards cannot be joined: an error."""
        if key in self.ambiguous:
            raise DataError(
                source,
                line,
                "key",
                f"{key!r} is in several shards ({', '.join(self.ambiguous[key][:3])}); "
                "join such shards by `url` instead",
            )
        return self.by_key.get(key)
