"""Rule pretrain_corpus: given + translated captions (+ download manifests, tar shards) -> corpus parts, every
chosen language."""

from ccrk.data.corpus import build_corpus
from ccrk.download.manifest import CorpusImages
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake):
    p = snakemake.params
    build_corpus(
        snakemake.input.given,
        snakemake.input.translations,
        snakemake.output.parts,
        p.languages,
        snakemake.output.report,
        p.max_images,
        p.seed,
        CorpusImages(
            snakemake.input.manifests, snakemake.input.images, p.missing_images, snakemake.input.shards
        ),
    )
