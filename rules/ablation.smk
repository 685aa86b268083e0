# Demo ablation (issue 6): 1-to-K pretraining over all languages (the main model) against CCLM-style
# contrastive learning with one random language per image (caption_num: 1). Same budget: the same
# images per step, steps, schedule and fine-tuning; only the captions each image meets differ.
ABLATION_LANGS = PROTOCOLS.languages("xflickrco")


rule pretrain_cclm_style:
    input:
        corpus=CORPUS_PARTS,
        tokenizer=tokenizer_dir(),
        images=DATA["pretrain_images"],
        init=init_weights(),
    output:
        model="results/ablation/cclm/pretrain/model.pt",
    log:
        "logs/ablation/pretrain_cclm.log",
    conda:
        "../environment.yml"
    threads: 8
    resources:
        **speed("pretrain", config["pretrain"]),
    params:
        model=canonical(config["model"]),
        train=result_params("pretrain", {**config["pretrain"], "caption_num": 1}),
        languages=LANGS["pretrain"],
    script:
        "../workflow/scripts/pretrain.py"


rule finetune_cclm_style:
    input:
        model="results/ablation/cclm/pretrain/model.pt",
        tokenizer=tokenizer_dir(),
        train=PROTOCOLS.train_files("xflickrco", "zeroshot"),
        select=PROTOCOLS.selection_files("xflickrco", "zeroshot"),
        images=image_dirs(),
    output:
        model="results/ablation/cclm/finetune/model.pt",
        summary="results/ablation/cclm/finetune/summary.json",
    log:
        "logs/ablation/finetune_cclm.log",
    conda:
        "../environment.yml"
    threads: 8
    resources:
        **speed("finetune", PROTOCOLS.finetune_config("xflickrco", "zeroshot")),
        **speed("evaluate", PROTOCOLS.evaluate_config("xflickrco", "zeroshot")),
    params:
        train=result_params("finetune", PROTOCOLS.finetune_config("xflickrco", "zeroshot")),
        evaluate=result_params("evaluate", PROTOCOLS.evaluate_config("xflickrco", "zeroshot")),
        selection=PROTOCOLS.selection("xflickrco", "zeroshot"),
        format="iglue",
        roots=canonical(protocol_roots("xflickrco")),
    script:
        "../workflow/scripts/finetune.py"


rule evaluate_cclm_style:
    input:
        model="results/ablation/cclm/finetune/model.pt",
        summary="results/ablation/cclm/finetune/summary.json",
        tokenizer=tokenizer_dir(),
        tests=[PROTOCOLS.test_file("xflickrco", lang) for lang in ABLATION_LANGS],
        images=image_dirs(),
    output:
        ranks=expand("results/ablation/cclm/eval/{lang}_ranks.csv", lang=ABLATION_LANGS),
        metrics=expand("results/ablation/cclm/eval/{lang}_metrics.json", lang=ABLATION_LANGS),
    log:
        "logs/ablation/evaluate_cclm.log",
    conda:
        "../environment.yml"
    threads: 8
    resources:
        **speed("evaluate", PROTOCOLS.evaluate_config("xflickrco", "zeroshot")),
    params:
        langs=ABLATION_LANGS,
        evaluate=result_params("evaluate", PROTOCOLS.evaluate_config("xflickrco", "zeroshot")),
        format="iglue",
        roots=canonical(protocol_roots("xflickrco")),
        folds={},
    script:
        "../workflow/scripts/evaluate.py"


rule demo_ablation:
    input:
        one_to_k_metrics=[
            PROTOCOLS.eval_file("xflickrco", "zeroshot", lang, "metrics.json") for lang in ABLATION_LANGS
        ],
        one_to_k_ranks=[
            PROTOCOLS.eval_file("xflickrco", "zeroshot", lang, "ranks.csv") for lang in ABLATION_LANGS
        ],
        cclm_metrics=rules.evaluate_cclm_style.output.metrics,
        cclm_ranks=rules.evaluate_cclm_style.output.ranks,
    output:
        csv=report(
            "results/demo_ablation.csv",
            caption="../report/ablation.rst",
            category="Ablation",
        ),
        md="results/demo_ablation.md",
    log:
        "logs/ablation/demo_ablation.log",
    conda:
        "../environment.yml"
    params:
        langs=ABLATION_LANGS,
        mrv_langs=LANGS["mrv"],
    script:
        "../workflow/scripts/demo_ablation.py"
