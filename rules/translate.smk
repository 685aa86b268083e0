TRANSLATION_STATS = [s.replace(".jsonl", ".stats.json") for s in TRANSLATION_SHARDS]
TRANSLATION_REPORT = ["results/translate/report.json"] if TRANSLATION_SHARDS else []
CT2_MODEL = "results/translate/ctranslate2"


localrules:
    translate_report,


if TRANSLATE["backend"] == "ctranslate2":

    rule translate_convert:
        input:
            model=m2m_dir(),
        output:
            directory(CT2_MODEL),
        log:
            "logs/translate/convert.log",
        conda:
            "../environment.yml"
        params:
            model=TRANSLATE["model"],
        script:
            "../workflow/scripts/translate_convert.py"


rule translate:
    input:
        captions=DATA["pretrain_given"],
        lexicon=TRANSLATE["model"] if TRANSLATE["backend"] == "lexicon" else [],
        converted=CT2_MODEL if TRANSLATE["backend"] == "ctranslate2" else [],
        model=m2m_dir() if TRANSLATE["backend"] != "ctranslate2" else [],
        references=TRANSLATE["references"] or [],
    output:
        translations="results/translate/shard-{shard}.jsonl",
        stats="results/translate/shard-{shard}.stats.json",
    log:
        "logs/translate/shard-{shard}.log",
    conda:
        "../environment.yml"
    threads: 1 if TRANSLATE["backend"] == "lexicon" else 8
    params:
        backend=TRANSLATE["backend"],
        model="" if TRANSLATE["backend"] == "lexicon" else TRANSLATE["model"],
        source=TRANSLATE["source"],
        targets=LANGS["translated"],
        shards=TRANSLATE["shards"],
        batch_size=TRANSLATE["batch_size"],
        beam_size=TRANSLATE["beam_size"],
        compute_type=TRANSLATE["compute_type"],
        device=TRANSLATE["device"],
        max_input_tokens=TRANSLATE["max_input_tokens"],
        max_output_tokens=TRANSLATE["max_output_tokens"],
    script:
        "../workflow/scripts/translate.py"


rule translate_report:
    input:
        translations=TRANSLATION_SHARDS,
        stats=TRANSLATION_STATS,
        references=TRANSLATE["references"] or [],
    output:
        "results/translate/report.json",
    log:
        "logs/translate/report.log",
    conda:
        "../environment.yml"
    params:
        targets=LANGS["translated"],
    script:
        "../workflow/scripts/translate_report.py"
