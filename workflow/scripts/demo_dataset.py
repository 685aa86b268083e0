"""Rule demo_dataset: draw the synthetic multilingual dataset in the real IGLUE formats."""

from pathlib import Path

from ccrk.demo.dataset import write_demo_dataset
from ccrk.jobs import snakemake_job

with snakemake_job(snakemake) as log:
    counts = write_demo_dataset(
        Path(snakemake.output.lexicon).parent,  # the dataset root
        test_languages=tuple(snakemake.params.test_languages),
        **snakemake.params.demo,
    )
    log.info("demo dataset: %s", counts)
