"""Rules wit_join_*: IGLUE WIT annotations + Kaggle pixel CSVs -> annotations carrying their image."""

from ccrk.formats.wit_pixels import join_wit
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake):
    join_wit(
        snakemake.input.annotations,
        snakemake.input.pixels,
        snakemake.output.joined,
        snakemake.output.report,
        snakemake.params.missing_images,
    )
