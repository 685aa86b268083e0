"""Rule multi30k: raw task1/task2 files -> {train,val,test_2016_flickr}.<lang>.json."""

from pathlib import Path

from ccrk.formats.multi30k import write_multi30k
from ccrk.io import write_json
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake) as log:
    p = snakemake.params
    out_dir = Path(snakemake.output.report).parent
    report = write_multi30k(
        snakemake.input.root, out_dir, p.languages, p.image_root, p.missing_images, p.image_dir
    )
    write_json(snakemake.output.report, report)
    log.info("multi30k: %s", report)
