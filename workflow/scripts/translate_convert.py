"""Rule translate_convert: the M2M-100 directory, validated, converted once for CTranslate2."""

from ccrk.jobs import snakemake_job
from ccrk.translate.ctranslate2_backend import convert_to_ctranslate2

with snakemake_job(snakemake):
    convert_to_ctranslate2(snakemake.params.model, snakemake.output[0])
