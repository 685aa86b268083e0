"""Rule *_mrv: gold ranks of several languages -> mean rank variance (population std) per direction."""

from ccrk.jobs import snakemake_job
from ccrk.tables import mrv_table, write_table

with snakemake_job(snakemake):
    write_table(mrv_table(dict(zip(snakemake.params.langs, snakemake.input.ranks))), snakemake.output[0])
