rule translate:
    input:
        captions=DATA["pretrain_given"],
        lexicon=TRANSLATE["model"] if TRANSLATE["backend"] == "lexicon" else [],
    output:
        "results/translate/shard-{shard}.jsonl",
    log:
        "logs/translate/shard-{shard}.log",
    conda:
        "../environment.yml"
    params:
        backend=TRANSLATE["backend"],
        model="" if TRANSLATE["backend"] == "lexicon" else TRANSLATE["model"],
        source=TRANSLATE["source"],
        targets=LANGS["translated"],
        shards=TRANSLATE["shards"],
        batch_size=TRANSLATE["batch_size"],
    script:
        "../workflow/scripts/translate.py"
