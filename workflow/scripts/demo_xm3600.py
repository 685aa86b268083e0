"""Rule demo_xm3600: the demo's xFlickr&CO-style test set rewritten in XM3600's captions.jsonl layout."""

from ccrk.demo.zeroshot import write_demo_xm3600
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake) as log:
    p = snakemake.params
    counts = write_demo_xm3600(
        dict(zip(p.langs, snakemake.input.tests)),
        snakemake.input.flickr30k_test,
        p.roots,
        snakemake.output.images.rsplit("/", 1)[0],
    )
    log.info("demo XM3600: %s", counts)
