"""Rule download_report: totals over the shards of one URL list."""

from ccrk.download.shards import summarize_shards
from ccrk.io import write_json
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake) as log:
    report = summarize_shards(snakemake.input.stats)
    write_json(snakemake.output[0], report)
    log.info("%s: %s", snakemake.wildcards.name, report)
