"""Rule finetune: retrieval fine-tuning, the best epoch chosen on the validation set."""

from ccrk.config import EvalConfig, FinetuneConfig, from_dict
from ccrk.finetune import run_finetuning
from ccrk.jobs import snakemake_job
from ccrk.train import default_device

with snakemake_job(snakemake):
    p = snakemake.params
    run_finetuning(
        snakemake.input.model,
        snakemake.input.tokenizer,
        snakemake.input.train,
        snakemake.input.valid,
        p.flickr_images,
        p.coco_images,
        snakemake.output.model,
        from_dict(FinetuneConfig, p.train, "finetune"),
        from_dict(EvalConfig, p.evaluate, "evaluate"),
        log_path=snakemake.output.summary,
        device=default_device(),
    )
