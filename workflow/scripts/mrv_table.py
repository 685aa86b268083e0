"""Rule mrv_table: gold ranks of several languages -> mean rank variance (population std) per direction."""

from ccrk.jobs import snakemake_job
from ccrk.tables import mrv_table, write_table

with snakemake_job(snakemake):
    p = snakemake.params
    rows = {tuple(k) if len(k) > 1 else k[0]: path for k, path in zip(p.rows, snakemake.input.ranks)}
    write_table(
        mrv_table(rows, directions=p.directions),
        snakemake.output.csv,
        snakemake.output.md,
        title=f"{snakemake.wildcards.table}: mean rank variance across languages (lower is more consistent)",
        note="Per item the population std of its 0-based gold rank across the languages, averaged over items. "
        "tr: image-to-text ranks (one per image); ir: text-to-image ranks.",
    )
