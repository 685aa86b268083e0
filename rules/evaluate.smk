rule evaluate_xflickrco:
    input:
        model="results/finetune/xflickrco/{setting}/model.pt",
        tokenizer=tokenizer_dir(),
        tests=expand(f"{XFLICKRCO}/{{lang}}/test.jsonl", lang=LANGS["xflickrco_test"]),
        images=image_dirs(),
    output:
        ranks=expand(
            "results/eval/xflickrco/{{setting}}/{lang}_ranks.csv",
            lang=LANGS["xflickrco_test"],
        ),
        metrics=expand(
            "results/eval/xflickrco/{{setting}}/{lang}_metrics.json",
            lang=LANGS["xflickrco_test"],
        ),
    log:
        "logs/evaluate/xflickrco_{setting}.log",
    wildcard_constraints:
        setting="zeroshot",
    conda:
        "../environment.yml"
    threads: 8
    params:
        langs=LANGS["xflickrco_test"],
        evaluate=config["evaluate"],
        flickr_images=DATA["flickr_images"],
        coco_images=DATA["coco_images"],
    script:
        "../workflow/scripts/evaluate.py"


rule xflickrco_table:
    input:
        metrics=expand(
            "results/eval/xflickrco/zeroshot/{lang}_metrics.json",
            lang=LANGS["xflickrco_test"],
        ),
    output:
        csv="results/xflickrco_table.csv",
        md="results/xflickrco_table.md",
    log:
        "logs/xflickrco_table.log",
    conda:
        "../environment.yml"
    params:
        langs=LANGS["xflickrco_test"],
    script:
        "../workflow/scripts/retrieval_table.py"


rule xflickrco_mrv:
    input:
        ranks=expand("results/eval/xflickrco/zeroshot/{lang}_ranks.csv", lang=LANGS["mrv"]),
    output:
        "results/xflickrco_mrv.csv",
    log:
        "logs/xflickrco_mrv.log",
    conda:
        "../environment.yml"
    params:
        langs=LANGS["mrv"],
    script:
        "../workflow/scripts/mrv_table.py"
