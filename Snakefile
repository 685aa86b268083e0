# ccrk: CCRK cross-lingual cross-modal retrieval, from raw data to per-language tables.
# Default config: the embedded offline demo. Paper settings: --configfile config/paper.yaml


from snakemake.utils import min_version

from ccrk.configfile import validate_config

min_version("9.0")


configfile: "config/config.yaml"


# ccrk/schema.yaml, as `python -m ccrk ... --config` validates: errors name the key, defaults are filled in place
validate_config(config, source="config from " + ", ".join(map(str, workflow.configfiles)))


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/protocols.smk"
include: "rules/demo.smk"
include: "rules/translate.smk"
include: "rules/download.smk"
include: "rules/annotations.smk"
include: "rules/pretrain.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/ablation.smk"
include: "rules/zeroshot_inputs.smk"
include: "rules/zeroshot.smk"


localrules:
    all,
    pretrain_corpus,
    retrieval_table,
    mrv_table,
    chart,
    tables,
    demo_ablation,
    zeroshot_table,
    zeroshot_mrv,
    zeroshot_chart,
    zeroshot_leaderboard,
    zeroshot,


rule all:
    input:
        "results/xflickrco_table.csv",
        "results/xflickrco_mrv.csv",
        TRANSLATION_REPORT,
