"""Rules mscoco_*: one language's COCO captions -> <lang>.{train,val,test}.json (+ its test folds)."""

from pathlib import Path

from ccrk.formats.mscoco import mscoco_files
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake) as log:
    p, i = snakemake.params, snakemake.input
    report = mscoco_files(
        p.lang,
        i.get("source"),
        Path(snakemake.output.report).parent,
        p.image_root,
        p.missing_images,
        p.image_dir,
        splits=dict(zip(p.get("split_names", []), i.get("splits", []))),
        captions=list(i.get("captions", [])),
        split_sizes=p.get("split_sizes"),
        seed=p.get("seed", 0),
        folds=p.folds,
    )
    log.info("mscoco %s: %s", p.lang, report)
