"""Rules finetune*: retrieval fine-tuning, the best epoch chosen on validation data (or as the original did)."""

from ccrk.config import EvalConfig, FinetuneConfig, from_dict, with_speed
from ccrk.data.sets import ImageRoots
from ccrk.finetune import run_finetuning
from ccrk.jobs import snakemake_job
from ccrk.launch import run_in_job

with snakemake_job(snakemake):
    p = snakemake.params
    run_in_job(
        snakemake,
        run_finetuning,
        snakemake.input.model,
        snakemake.input.tokenizer,
        list(snakemake.input.train),
        list(snakemake.input.select),
        snakemake.output.model,
        # speed-only settings (workers, checkpoint interval, evaluation batch sizes) come as resources
        from_dict(FinetuneConfig, with_speed("finetune", p.train, snakemake.resources), "finetune"),
        from_dict(EvalConfig, with_speed("evaluate", p.evaluate, snakemake.resources), "evaluate"),
        fmt=p.format,
        roots=ImageRoots(**p.roots),
        selection=p.selection,
        log_path=snakemake.output.summary,
    )
