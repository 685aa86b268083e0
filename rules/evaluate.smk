# One job per model: the test languages of a dataset share one image pass (xFlickr&CO, Multi30K, MSCOCO).
for _dataset, _settings in (
    ("xflickrco", "zeroshot"),
    ("wit", "zeroshot"),
    ("multi30k", "en|all"),
    ("mscoco", "en|all"),
):
    _langs = PROTOCOLS.languages(_dataset)

    rule:
        name:
            f"evaluate_{_dataset}"
        input:
            model=f"results/finetune/{_dataset}/{{setting}}/model.pt",
            summary=f"results/finetune/{_dataset}/{{setting}}/summary.json",
            tokenizer=tokenizer_dir(),
            tests=[PROTOCOLS.test_file(_dataset, lang) for lang in _langs],
            images=protocol_images(_dataset),
        output:
            ranks=expand(
                "results/eval/{dataset}/{{setting}}/{lang}_ranks.csv",
                dataset=_dataset,
                lang=_langs,
            ),
            metrics=expand(
                "results/eval/{dataset}/{{setting}}/{lang}_metrics.json",
                dataset=_dataset,
                lang=_langs,
            ),
        log:
            f"logs/evaluate/{_dataset}_{{setting}}.log",
        wildcard_constraints:
            setting=_settings,
        conda:
            "../environment.yml"
        threads: setting_threads(_dataset)
        resources:
            **speed("evaluate", setting_config("evaluate", _dataset)),
        params:
            langs=_langs,
            evaluate=result_params("evaluate", setting_config("evaluate", _dataset)),
            format=FORMAT[_dataset],
            roots=canonical(protocol_roots(_dataset)),
            folds=canonical(PROTOCOLS.folds(_dataset)),
        script:
            "../workflow/scripts/evaluate.py"


rule evaluate_per_language:
    input:
        model="results/finetune/{run}/model.pt",
        summary="results/finetune/{run}/summary.json",
        tokenizer=tokenizer_dir(),
        tests=lambda wc: PROTOCOLS.test_file(*PROTOCOLS.parse_run(wc.run)[::2]),
        images=lambda wc: protocol_images(PROTOCOLS.parse_run(wc.run)[0]),
    output:
        ranks="results/eval/{run}_ranks.csv",
        metrics="results/eval/{run}_metrics.json",
    log:
        "logs/evaluate/{run}.log",
    wildcard_constraints:
        run=PER_LANGUAGE_RUN,
    conda:
        "../environment.yml"
    threads: run_threads
    resources:
        **speed("evaluate", run_config("evaluate")),
    params:
        langs=lambda wc: [PROTOCOLS.parse_run(wc.run)[2]],
        evaluate=result_params("evaluate", run_config("evaluate")),
        format=lambda wc: FORMAT[PROTOCOLS.parse_run(wc.run)[0]],
        roots=lambda wc: canonical(protocol_roots(PROTOCOLS.parse_run(wc.run)[0])),
        folds=lambda wc: canonical(PROTOCOLS.folds(PROTOCOLS.parse_run(wc.run)[0])),
    script:
        "../workflow/scripts/evaluate.py"
