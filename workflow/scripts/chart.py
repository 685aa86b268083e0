"""Rule chart: a results table -> bar chart of IR/TR R@1 per language, chance level, published baselines (PNG)."""

from ccrk.jobs import snakemake_job
from ccrk.plots import bar_chart

with snakemake_job(snakemake):
    p = snakemake.params
    title = p.get("title", f"{snakemake.wildcards.table}: R@1")
    label = p.get("label", "ccrk")
    bar_chart(snakemake.input.table, snakemake.output[0], p.published, title, label, p.get("chance"))
