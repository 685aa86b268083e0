if DEMO["enabled"]:

    rule demo_dataset:
        output:
            given=DATA["pretrain_given"],
            lexicon=f"{DEMO['out_dir']}/lexicon.tsv",
            references=f"{DEMO['out_dir']}/pretrain/references.jsonl",
            train=f"{FLICKR30K}/train_ann.jsonl",
            valid=f"{FLICKR30K}/valid_ann.jsonl",
            test=f"{FLICKR30K}/test_ann.jsonl",
            xflickrco=expand(f"{XFLICKRCO}/{{lang}}/test.jsonl", lang=LANGS["xflickrco_test"]),
            fewshot=expand(
                f"{XFLICKRCO}/{{lang}}/train_{{n}}.jsonl",
                lang=[lang for lang in LANGS["xflickrco_test"] if lang != "en"],
                n=DEMO["fewshot_sizes"],
            ),
            images=directory(DATA["pretrain_images"]),
        log:
            "logs/demo_dataset.log",
        conda:
            "../environment.yml"
        params:
            demo=canonical({k: v for k, v in DEMO.items() if k not in ("enabled", "out_dir")}),
            test_languages=LANGS["xflickrco_test"],
        script:
            "../workflow/scripts/demo_dataset.py"
