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
        init=init_weights(),
    output:
        model="results/pretrain/model.pt",
    log:
        "logs/pretrain.log",
    conda:
        "../environment.yml"
    threads: 8
    resources:
        **speed("pretrain", config["pretrain"]),
    params:
        model=canonical(config["model"]),
        train=result_params("pretrain", config["pretrain"]),
        languages=LANGS["pretrain"],
        # streamed from tar shards, the loader workers split the shards: their count sets the sample order
        stream_workers=(
            config["pretrain"]["num_workers"]
            if PRETRAIN_SHARDS or (DOWNLOADED and DOWNLOAD_FORMAT == "webdataset")
            else None
        ),
    script:
        "../workflow/scripts/pretrain.py"
