"""Rule evaluate: rank one language's test file (ITC top-k, ITM re-rank) -> ranks CSV + metrics."""

from ccrk.config import EvalConfig, from_dict
from ccrk.evaluate import evaluate_test_file
from ccrk.jobs import snakemake_job
from ccrk.train import default_device

with snakemake_job(snakemake):
    p = snakemake.params
    evaluate_test_file(
        snakemake.input.model,
        snakemake.input.tokenizer,
        snakemake.input.test,
        p.flickr_images,
        p.coco_images,
        snakemake.output.ranks,
        snakemake.output.metrics,
        from_dict(EvalConfig, p.evaluate, "evaluate"),
        device=default_device(),
        extra={"lang": snakemake.wildcards.lang, "setting": snakemake.wildcards.setting},
    )
