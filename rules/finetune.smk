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
    threads: 8
    params:
        train=lambda wc: PROTOCOLS.finetune_config(*PROTOCOLS.parse_run(wc.run)[:2]),
        evaluate=lambda wc: PROTOCOLS.evaluate_config(*PROTOCOLS.parse_run(wc.run)[:2]),
        selection=lambda wc: PROTOCOLS.selection(*PROTOCOLS.parse_run(wc.run)[:2]),
        format=lambda wc: FORMAT[PROTOCOLS.parse_run(wc.run)[0]],
        roots=lambda wc: protocol_roots(PROTOCOLS.parse_run(wc.run)[0]),
    script:
        "../workflow/scripts/finetune.py"
