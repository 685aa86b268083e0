"""Rule pretrain_corpus: given + translated captions -> corpus parts with every chosen language."""

from ccrk.data.corpus import build_corpus
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake):
    build_corpus(
        snakemake.input.given,
        snakemake.input.translations,
        snakemake.output.parts,
        snakemake.params.languages,
        snakemake.output.report,
        snakemake.params.max_images,
        snakemake.params.seed,
    )
