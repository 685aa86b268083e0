"""Rule evaluate: rank every language of a test set (ITC top-k, ITM re-rank) -> ranks CSV + metrics each."""

from ccrk.config import EvalConfig, from_dict
from ccrk.evaluate import evaluate_test_files
from ccrk.jobs import snakemake_job
from ccrk.train import default_device

with snakemake_job(snakemake):
    p = snakemake.params
    outputs = zip(snakemake.output.ranks, snakemake.output.metrics)
    evaluate_test_files(
        snakemake.input.model,
        snakemake.input.tokenizer,
        dict(zip(p.langs, snakemake.input.tests)),
        p.flickr_images,
        p.coco_images,
        dict(zip(p.langs, outputs)),
        from_dict(EvalConfig, p.evaluate, "evaluate"),
        device=default_device(),
        extra={"setting": snakemake.wildcards.setting},
    )
