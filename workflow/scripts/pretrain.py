"""Rule pretrain: CCRK pretraining (1-to-K contrastive + ITM + MLM) on the corpus, in the processes the job's
resources ask for (one; torchrun for gpu=N; srun tasks for mpi; see ccrk/launch.py)."""

from ccrk.config import PretrainConfig, from_dict, with_speed
from ccrk.jobs import snakemake_job
from ccrk.launch import run_in_job
from ccrk.pretrain import run_pretraining

with snakemake_job(snakemake):
    # num_workers and save_every come as resources: changing them reruns nothing
    train = {
        **with_speed("pretrain", snakemake.params.train, snakemake.resources),
        "languages": snakemake.params.languages,
    }
    run_in_job(
        snakemake,
        run_pretraining,
        list(snakemake.input.corpus),
        snakemake.input.images,
        snakemake.input.tokenizer,
        snakemake.output.model,
        snakemake.params.model,
        from_dict(PretrainConfig, train, "pretrain"),
    )
