"""Rule zeroshot_leaderboard: every model's per-protocol tables and MRV -> one leaderboard (CSV, Markdown, chart)."""

from ccrk.jobs import snakemake_job
from ccrk.leaderboard import write_leaderboard

with snakemake_job(snakemake):
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    write_leaderboard(
        p.models,
        {tuple(k.split("|")): path for k, path in zip(p.tables, inp.tables)},
        {tuple(k.split("|")): path for k, path in zip(p.mrvs, inp.mrvs)},
        (out.csv, out.md, out.png),
        p.languages,
        p.mrv_languages,
    )
