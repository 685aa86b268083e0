rule finetune:
    input:
        model=lambda wc: PROTOCOLS.init_model(*PROTOCOLS.parse_run(wc.run)),
        tokenizer=tokenizer_dir(),
        train=lambda wc: PROTOCOLS.train_files(*PROTOCOLS.parse_run(wc.run)),
        select=lambda wc: PROTOCOLS.selection_files(*PROTOCOLS.parse_run(wc.run)),
        images=lambda wc: protocol_images(PROTOCOLS.parse_run(wc.run)[0]),
    output:
        model="results/finetune/{run}/model.pt",
        summary="results/finetune/{run}/summary.json",
    log:
        "logs/finetune/{run}.log",
    wildcard_constraints:
        run=RUN_PATTERN,
    conda:
        "../environment.yml"
    threads: run_threads
    resources:
        **speed("finetune", run_config("finetune")),
        **speed("evaluate", run_config("evaluate")),
    params:
        train=result_params("finetune", run_config("finetune")),
        evaluate=result_params("evaluate", run_config("evaluate")),
        selection=lambda wc: PROTOCOLS.selection(*PROTOCOLS.parse_run(wc.run)[:2]),
        format=lambda wc: FORMAT[PROTOCOLS.parse_run(wc.run)[0]],
        roots=lambda wc: canonical(protocol_roots(PROTOCOLS.parse_run(wc.run)[0])),
    script:
        "../workflow/scripts/finetune.py"
