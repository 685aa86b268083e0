"""Rule translate: one shard of the source captions into every target language, resumable."""

from ccrk.jobs import snakemake_job
from ccrk.translate import build_translator, translate_shard

with snakemake_job(snakemake):
    p = snakemake.params
    model = p.model or snakemake.input.lexicon  # the demo's lexicon is a tracked input file
    translator = build_translator(
        p.backend,
        model,
        batch_size=p.batch_size,
        beam_size=p.beam_size,
        max_output_tokens=p.max_output_tokens,
        compute_type=p.compute_type,
        device=p.device,
        threads=snakemake.threads,
        converted_dir=snakemake.input.converted or None,
    )
    translate_shard(
        snakemake.input.captions,
        snakemake.output.translations,
        int(snakemake.wildcards.shard),
        p.shards,
        translator,
        p.source,
        p.targets,
        batch_size=p.batch_size,
        max_input_tokens=p.max_input_tokens,
        references=snakemake.input.references or None,
        stats_path=snakemake.output.stats,
    )
