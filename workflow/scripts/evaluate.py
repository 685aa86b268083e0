"""Rules evaluate_*: rank every test language of one model (ITC top-k, ITM re-rank) -> ranks CSV + metrics each."""

from ccrk.config import EvalConfig, from_dict, with_speed
from ccrk.data.sets import ImageRoots
from ccrk.evaluate import evaluate_test_files
from ccrk.io import read_json
from ccrk.jobs import snakemake_job
from ccrk.train import default_device


def as_list(files):
    return [files] if isinstance(files, str) else list(files)


with snakemake_job(snakemake):
    p, inp = snakemake.params, snakemake.input
    summary = read_json(inp.summary)
    outputs = zip(as_list(snakemake.output.ranks), as_list(snakemake.output.metrics))
    evaluate_test_files(
        inp.model,
        inp.tokenizer,
        dict(zip(p.langs, as_list(inp.tests))),
        dict(zip(p.langs, outputs)),
        from_dict(
            EvalConfig, with_speed("evaluate", p.evaluate, snakemake.resources), "evaluate"
        ),  # batch sizes
        fmt=p.format,
        roots=ImageRoots(**p.roots),
        folds=p.folds,
        device=default_device(),
        # how the checkpoint was chosen travels with every result into the tables
        extra={"model": inp.model, "selection": summary["selection"], "best_epoch": summary["best_epoch"]},
    )
