# Demo ablation: 1-to-K pretraining over all languages against CCLM-style contrastive learning with one
# random language per image (caption_num: 1), each pretrained with every seed of `ablation.seeds`. Same
# budget: the same images per step, steps, schedule and fine-tuning; only the captions each image meets
# differ. The 1-to-K run with the main pretraining seed is the main model itself (rules/common.smk: ablation_eval).
ABLATION_LANGS = PROTOCOLS.languages("xflickrco")
ABLATION_SEEDS = config["ablation"]["seeds"]
ABLATION_METHODS = {"one_to_k": {}, "cclm": {"caption_num": 1}}  # pretrain settings each method changes


wildcard_constraints:
    method="one_to_k|cclm",
    seed="[0-9]+",


rule pretrain_ablation:
    input:
        corpus=CORPUS_PARTS,
        tokenizer=tokenizer_dir(),
        images=DATA["pretrain_images"],
        init=init_weights(),
    output:
        model="results/ablation/{method}/seed{seed}/pretrain/model.pt",
    log:
        "logs/ablation/{method}/seed{seed}/pretrain.log",
    conda:
        "../environment.yml"
    threads: 8
    resources:
        **speed("pretrain", config["pretrain"]),
    params:
        model=canonical(config["model"]),
        train=result_params(
            "pretrain",
            lambda wc: {**config["pretrain"], "seed": int(wc.seed), **ABLATION_METHODS[wc.method]},
        ),
        languages=LANGS["pretrain"],
    script:
        "../workflow/scripts/pretrain.py"


rule finetune_ablation:
    input:
        model="results/ablation/{method}/seed{seed}/pretrain/model.pt",
        tokenizer=tokenizer_dir(),
        train=PROTOCOLS.train_files("xflickrco", "zeroshot"),
        select=PROTOCOLS.selection_files("xflickrco", "zeroshot"),
        images=image_dirs(),
    output:
        model="results/ablation/{method}/seed{seed}/finetune/model.pt",
        summary="results/ablation/{method}/seed{seed}/finetune/summary.json",
    log:
        "logs/ablation/{method}/seed{seed}/finetune.log",
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


rule evaluate_ablation:
    input:
        model="results/ablation/{method}/seed{seed}/finetune/model.pt",
        summary="results/ablation/{method}/seed{seed}/finetune/summary.json",
        tokenizer=tokenizer_dir(),
        tests=[PROTOCOLS.test_file("xflickrco", lang) for lang in ABLATION_LANGS],
        images=image_dirs(),
    output:
        ranks=expand("results/ablation/{{method}}/seed{{seed}}/eval/{lang}_ranks.csv", lang=ABLATION_LANGS),
        metrics=expand(
            "results/ablation/{{method}}/seed{{seed}}/eval/{lang}_metrics.json", lang=ABLATION_LANGS
        ),
    log:
        "logs/ablation/{method}/seed{seed}/evaluate.log",
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
        metrics=[
            f for m in ABLATION_METHODS for s in ABLATION_SEEDS for f in ablation_eval(m, s, "metrics.json")
        ],
        ranks=[f for m in ABLATION_METHODS for s in ABLATION_SEEDS for f in ablation_eval(m, s, "ranks.csv")],
    output:
        csv=report(
            "results/demo_ablation.csv",
            caption="../report/ablation.rst",
            category="Ablation",
        ),
        seeds="results/demo_ablation_seeds.csv",
        md="results/demo_ablation.md",
    log:
        "logs/ablation/demo_ablation.log",
    conda:
        "../environment.yml"
    params:
        methods=list(ABLATION_METHODS),
        seeds=ABLATION_SEEDS,
        langs=ABLATION_LANGS,
        mrv_langs=LANGS["mrv"],
    script:
        "../workflow/scripts/demo_ablation.py"
