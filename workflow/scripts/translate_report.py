"""Rule translate_report: shard counts summed, chrF/BLEU per language over the whole corpus."""

from ccrk.jobs import snakemake_job
from ccrk.translate.report import translation_report

with snakemake_job(snakemake):
    translation_report(
        snakemake.input.translations,
        snakemake.input.stats,
        snakemake.output[0],
        snakemake.params.targets,
        references=snakemake.input.references or None,
    )
