"""Rule download_images: one shard of a URL list -> verified, resized images (a webdataset tar or a folder)
+ manifest + stats (resumable)."""

from pathlib import Path

from ccrk.download.shards import download_config, download_list_shard
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake):
    p, w = snakemake.params, snakemake.wildcards
    out = dict(snakemake.output.items())
    stem = Path(
        out["images"] if "images" in out else out["tar"].removesuffix(".tar")
    )  # <root>/<name>/<shard>
    download_list_shard(
        snakemake.input.urls,
        p.format,
        int(w.shard),
        p.shards,
        stem.parent.parent,
        f"{w.name}/{stem.name}",
        snakemake.output.manifest,
        snakemake.output.stats,
        download_config({**p.settings, "threads": snakemake.resources.download_threads}),
        snakemake.input.captions or None,
    )
