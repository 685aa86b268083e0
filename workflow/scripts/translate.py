"""Rule translate: one shard of the English captions into every target language."""

from ccrk.jobs import snakemake_job
from ccrk.translate import build_translator, translate_shard

with snakemake_job(snakemake):
    p = snakemake.params
    model = p.model or snakemake.input.lexicon  # the demo's lexicon is a tracked input file
    translator = build_translator(p.backend, model, p.batch_size)
    translate_shard(
        snakemake.input.captions,
        snakemake.output[0],
        int(snakemake.wildcards.shard),
        p.shards,
        translator,
        p.source,
        p.targets,
        p.batch_size,
    )
