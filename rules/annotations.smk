rule pretrain_corpus:
    input:
        given=DATA["pretrain_given"],
        translations=TRANSLATION_SHARDS,
    output:
        parts=CORPUS_PARTS,
        report="results/corpus/report.json",
    log:
        "logs/pretrain_corpus.log",
    conda:
        "../environment.yml"
    params:
        languages=LANGS["pretrain"],
        max_images=config["corpus"]["max_images"],
        seed=config["corpus"]["seed"],
    script:
        "../workflow/scripts/pretrain_corpus.py"
