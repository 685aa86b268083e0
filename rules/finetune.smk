rule finetune_xflickrco_zeroshot:
    input:
        model=pretrained_model(),
        tokenizer=tokenizer_dir(),
        train=f"{FLICKR30K}/train_ann.jsonl",
        valid=f"{FLICKR30K}/valid_ann.jsonl",
        images=image_dirs(),
    output:
        model="results/finetune/xflickrco/zeroshot/model.pt",
        summary="results/finetune/xflickrco/zeroshot/summary.json",
    log:
        "logs/finetune/xflickrco_zeroshot.log",
    conda:
        "../environment.yml"
    threads: 8
    params:
        train=config["finetune"],
        evaluate=config["evaluate"],
        flickr_images=DATA["flickr_images"],
        coco_images=DATA["coco_images"],
    script:
        "../workflow/scripts/finetune.py"
