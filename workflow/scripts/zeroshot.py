"""Rules zeroshot_<dataset>: one model of zeroshot.models on every protocol and language of one dataset."""

import os

if snakemake.params.network:  # before anything imports huggingface_hub, which reads these once
    os.environ.update(HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0")

from ccrk.data.sets import ImageRoots  # noqa: E402
from ccrk.jobs import snakemake_job  # noqa: E402
from ccrk.zeroshot import ProtocolRun, run_zeroshot  # noqa: E402
from ccrk.zoo.spec import RunSettings  # noqa: E402

with snakemake_job(snakemake):
    from ccrk.train import default_device

    p, out = snakemake.params, snakemake.output
    speed = snakemake.config["zeroshot"]  # batch size and workers change no number: not params, no reruns
    workers = min(speed["num_workers"], len(os.sched_getaffinity(0)))  # never more decoders than CPUs
    outputs = list(zip(out.ranks, out.metrics, out.clip_benchmark))
    n = len(p.langs)  # outputs are ordered protocol by protocol, language by language
    runs = [
        ProtocolRun(
            protocol,
            tests=dict(zip(p.langs, p.tests)),
            outputs=dict(zip(p.langs, outputs[i * n : (i + 1) * n])),
            folds=p.folds.get(protocol, {}),
        )
        for i, protocol in enumerate(p.protocols)
    ]
    run_zeroshot(
        p.model,
        runs,
        RunSettings(default_device(), speed["batch_size"], workers, p.precision),
        tokenizer_dir=p.tokenizer,
        evaluate=p.evaluate,
        network=p.network,
        roots=ImageRoots(**p.roots),
        xm3600_images=p.xm3600_images,
        missing_images=p.missing_images,
    )
