"""Rule chart: a results table -> bar chart of IR/TR R@1 per language, chance level, published baselines (PNG)."""

from ccrk.jobs import snakemake_job
from ccrk.plots import bar_chart

with snakemake_job(snakemake):
    table = snakemake.wildcards.table
    p = snakemake.params
    bar_chart(snakemake.input.table, snakemake.output[0], p.published, title=p.title, chance=p.chance)
