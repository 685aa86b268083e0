"""Rule demo_zoo: two tiny random dual encoders (open_clip, transformers SigLIP) for the zero-shot demo."""

from pathlib import Path

from ccrk.demo.zeroshot import write_demo_zoo
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake):
    write_demo_zoo(Path(snakemake.output.config).parent, snakemake.input.tokenizer, snakemake.params.seed)
