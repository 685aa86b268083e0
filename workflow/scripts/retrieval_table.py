"""Rule retrieval_table: per-language metrics -> CSV and its Markdown twin, with IGLUE's non-English average."""

from ccrk.jobs import snakemake_job
from ccrk.tables import retrieval_table, write_table

with snakemake_job(snakemake):
    p = snakemake.params
    rows = {tuple(k) if len(k) > 1 else k[0]: path for k, path in zip(p.rows, snakemake.input.metrics)}
    table = retrieval_table(rows, average=p.average)
    write_table(
        table,
        snakemake.output.csv,
        snakemake.output.md,
        title=f"{snakemake.wildcards.table}: retrieval R@K per language"
        + (" (avg: non-English)" if p.average else ""),
        note=p.get(
            "note",
            "IR = text-to-image, TR = image-to-text, re-ranked by ITM; itc_* = the same model's "
            "dual-encoder ranking.",
        )
        + " selection = how the checkpoint was chosen: "
        + ", ".join(sorted(set(table["selection"])))
        + ".",
    )
