"""Rule pretrain: CCRK pretraining (1-to-K contrastive + ITM + MLM) on the corpus."""

from ccrk.config import PretrainConfig, from_dict
from ccrk.jobs import snakemake_job
from ccrk.pretrain import run_pretraining
from ccrk.train import default_device

with snakemake_job(snakemake):
    train = {**snakemake.params.train, "languages": snakemake.params.languages}
    run_pretraining(
        snakemake.input.corpus,
        snakemake.input.images,
        snakemake.input.tokenizer,
        snakemake.output.model,
        snakemake.params.model,
        from_dict(PretrainConfig, train, "pretrain"),
        device=default_device(),
    )
