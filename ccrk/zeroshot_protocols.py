"""The zero-shot protocols (docs/method.md#zero-shot): which test data, caption protocol, folds and MRV each means.

Plain data, imported by the Snakemake rules at parse time (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZeroShotProtocol:
    dataset: str  # the test data it reads (several protocols may share one dataset's images)
    fmt: str  # iglue | json | wit | xm3600
    description: str  # one line for the tables and the leaderboard legend
    mrv: tuple[str, ...] = ()  # MRV directions over the MRV languages (images align across languages)
    folds: bool = False  # rank within contiguous folds (protocols.mscoco.folds), reporting the fold mean
    caption_protocol: str | None = None  # XM3600: all | first
    clip_benchmark_name: str = ""  # `dataset` in the CLIP_benchmark JSON


PROTOCOLS = {
    "xflickrco": ZeroShotProtocol(
        "xflickrco",
        "iglue",
        "xFlickr&CO test (IGLUE): one caption per image and language, the same images in every language",
        mrv=("ir", "tr"),
        clip_benchmark_name="xflickrco",
    ),
    "multi30k": ZeroShotProtocol(
        "multi30k",
        "json",
        "Multi30K test 2016 (Flickr30K images): en/de 5 captions per image, fr/cs 1",
        mrv=("tr",),
        clip_benchmark_name="multi30k",
    ),
    "wit": ZeroShotProtocol(
        "wit", "wit", "WIT test (IGLUE): a different image set per language", clip_benchmark_name="wit"
    ),
    "mscoco_5k": ZeroShotProtocol(
        "mscoco", "json", "MSCOCO test, whole set (en/ja 5k images, zh 1k)", clip_benchmark_name="mscoco_5k"
    ),
    "mscoco_1k": ZeroShotProtocol(
        "mscoco",
        "json",
        "MSCOCO test in 1k-image folds (protocols.mscoco.folds), fold mean",
        folds=True,
        clip_benchmark_name="mscoco_1k",
    ),
    "xm3600_all": ZeroShotProtocol(
        "xm3600",
        "xm3600",
        "XM3600: every caption of each locale is a query; an image is found through any (big_vision, Meta CLIP 2)",
        mrv=("ir", "tr"),
        caption_protocol="all",
        clip_benchmark_name="crossmodal3600_all_captions",
    ),
    "xm3600_first": ZeroShotProtocol(
        "xm3600",
        "xm3600",
        "XM3600: the first caption of each image and locale only (CLIP_benchmark)",
        mrv=("ir", "tr"),
        caption_protocol="first",
        clip_benchmark_name="crossmodal3600",
    ),
}
DATASETS = {
    d: [p for p, spec in PROTOCOLS.items() if spec.dataset == d]
    for d in dict.fromkeys(spec.dataset for spec in PROTOCOLS.values())
}
