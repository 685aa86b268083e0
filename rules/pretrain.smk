if not config["tokenizer"]["path"]:

    rule tokenizer:
        input:
            corpus=CORPUS_PARTS,
        output:
            directory("results/tokenizer"),
        log:
            "logs/tokenizer.log",
        conda:
            "../environment.yml"
        params:
            vocab_size=config["tokenizer"]["vocab_size"],
            languages=LANGS["pretrain"],
        script:
            "../workflow/scripts/tokenizer.py"


rule pretrain:
    input:
        corpus=CORPUS_PARTS,
        tokenizer=tokenizer_dir(),
        images=DATA["pretrain_images"],
        shards=PRETRAIN_SHARDS + (DOWNLOADED if DOWNLOAD_FORMAT == "webdataset" else []),
    output:
        model="results/pretrain/model.pt",
    log:
        "logs/pretrain.log",
    conda:
        "../environment.yml"
    threads: 8
    params:
        model=config["model"],
        train=config["pretrain"],
        languages=LANGS["pretrain"],
    script:
        "../workflow/scripts/pretrain.py"
