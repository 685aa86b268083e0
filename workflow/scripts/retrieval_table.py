"""Rule *_table: per-language metrics -> CSV and Markdown table with the non-English average."""

from ccrk.jobs import snakemake_job
from ccrk.tables import retrieval_table, write_table

with snakemake_job(snakemake):
    files = dict(zip(snakemake.params.langs, snakemake.input.metrics))
    write_table(
        retrieval_table(files),
        snakemake.output.csv,
        snakemake.output.md,
        title="Retrieval R@K per language (avg: non-English languages)",
    )
