# Zero-shot scoring of zeroshot.models (ccrk, open_clip, transformers) on every protocol with data (ccrk/zeroshot.py):
# one job per (model, dataset) shares the images across protocols and languages; tables, MRV and charts per
# (model, protocol) reuse the evaluation's scripts; results/zeroshot_leaderboard.csv puts every model side by side.
# Inputs and helpers: rules/zeroshot_inputs.smk.


wildcard_constraints:
    model="|".join(re.escape(m) for m in ZS_MODELS) or "(?!)",


for _dataset, _protocols in ZS_DATASETS.items():
    _protocols = [p for p in _protocols if p in ZS_ENABLED]
    if not _protocols:
        continue
    _langs = zs_languages(_protocols[0])
    _pairs = [(p, x) for p in _protocols for x in _langs]

    rule:
        name:
            f"zeroshot_{_dataset}"
        input:
            model=lambda wc: zs_model_inputs(wc.model),
            tests=list(dict.fromkeys(zs_test_file(_protocols[0], x) for x in _langs)),
            images=zs_images(_dataset),
        output:
            ranks=[zs_out(p, x, "ranks.csv") for p, x in _pairs],
            metrics=[zs_out(p, x, "metrics.json") for p, x in _pairs],
            clip_benchmark=[zs_out(p, x, "clip_benchmark.json") for p, x in _pairs],
        log:
            f"logs/zeroshot/{{model}}/{_dataset}.log",
        conda:
            "../environment.yml"
        threads: ZS["threads"]
        params:
            model=lambda wc: spec_dict(ZS_MODELS[wc.model]),
            tokenizer=lambda wc: (
                (ZS_MODELS[wc.model].tokenizer or tokenizer_dir())
                if ZS_MODELS[wc.model].kind == "ccrk"
                else ""
            ),
            evaluate=lambda wc: zs_evaluate(wc.model),
            protocols=_protocols,
            langs=_langs,
            tests=[zs_test_file(_protocols[0], x) for x in _langs],
            folds={p: PROTOCOLS.folds("mscoco") for p in _protocols if ZS_PROTOCOLS[p].folds},
            roots=protocol_roots(_dataset) if _dataset != "xm3600" else {},
            xm3600_images=lambda wc, input, d=_dataset: input.images[0] if d == "xm3600" else "",
            missing_images=MISSING_IMAGES,
            precision=ZS["precision"],
            network=ZS["network"],
        script:
            "../workflow/scripts/zeroshot.py"


rule zeroshot_table:
    input:
        metrics=lambda wc: [zs_out(wc.table, x, "metrics.json", wc.model) for x in zs_languages(wc.table)],
    output:
        csv="results/zeroshot/{model}/{table}_table.csv",
        md="results/zeroshot/{model}/{table}_table.md",
    log:
        "logs/zeroshot/{model}/{table}_table.log",
    wildcard_constraints:
        table=ZS_TABLES,
    conda:
        "../environment.yml"
    params:
        rows=lambda wc: [[x] for x in zs_languages(wc.table)],
        average=True,
        note=lambda wc: (
            f"{ZS_PROTOCOLS[wc.table].description}. IR = text-to-image, TR = image-to-text; "
            + (
                "re-ranked by ITM, itc_* = the same model's ITC ranking."
                if zs_rerank(wc.model)
                else "cosine similarity of the model's own embeddings (itc_* not applicable)."
            )
        ),
    script:
        "../workflow/scripts/retrieval_table.py"


rule zeroshot_mrv:
    input:
        ranks=lambda wc: [zs_out(wc.table, x, "ranks.csv", wc.model) for x in zs_mrv_languages(wc.table)],
    output:
        csv="results/zeroshot/{model}/{table}_mrv.csv",
        md="results/zeroshot/{model}/{table}_mrv.md",
    log:
        "logs/zeroshot/{model}/{table}_mrv.log",
    wildcard_constraints:
        table="|".join(p for p in ZS_ENABLED if ZS_PROTOCOLS[p].mrv) or "(?!)",
    conda:
        "../environment.yml"
    params:
        rows=lambda wc: [[x] for x in zs_mrv_languages(wc.table)],
        directions=lambda wc: [
            *ZS_PROTOCOLS[wc.table].mrv,
            *([f"itc_{d}" for d in ZS_PROTOCOLS[wc.table].mrv] if zs_rerank(wc.model) else []),
        ],
    script:
        "../workflow/scripts/mrv_table.py"


rule zeroshot_chart:
    input:
        table="results/zeroshot/{model}/{table}_table.csv",
    output:
        "results/zeroshot/{model}/{table}_chart.png",
    log:
        "logs/zeroshot/{model}/{table}_chart.log",
    wildcard_constraints:
        table=ZS_TABLES,
    conda:
        "../environment.yml"
    params:
        published=lambda wc: wc.table if wc.table in ("xflickrco", "wit") else "",
        title=lambda wc: f"{wc.model} zero-shot on {wc.table}: R@1",
        label=lambda wc: wc.model,
    script:
        "../workflow/scripts/chart.py"


rule zeroshot_leaderboard:
    input:
        tables=list(zs_leaderboard_files("table").values()),
        mrvs=list(zs_leaderboard_files("mrv").values()),
    output:
        csv=report(
            "results/zeroshot_leaderboard.csv",
            caption="../report/leaderboard.rst",
            category="Tables",
            labels={"table": "zeroshot_leaderboard", "kind": "leaderboard (CSV)"},
        ),
        md="results/zeroshot_leaderboard.md",
        png="results/zeroshot_leaderboard.png",
    log:
        "logs/zeroshot/leaderboard.log",
    conda:
        "../environment.yml"
    params:
        models=[
            {"name": n, "kind": s.kind, "rerank": zs_rerank(n), "description": s.description}
            for n, s in ZS_MODELS.items()
        ],
        tables=list(zs_leaderboard_files("table")),
        mrvs=list(zs_leaderboard_files("mrv")),
        languages={p: zs_languages(p) for p in ZS_ENABLED},
        mrv_languages={p: zs_mrv_languages(p) for p in ZS_ENABLED if ZS_PROTOCOLS[p].mrv},
    script:
        "../workflow/scripts/zeroshot_leaderboard.py"


rule zeroshot:
    input:
        "results/zeroshot_leaderboard.csv",
        [
            f"results/zeroshot/{m}/{p}_{kind}"
            for m in ZS_MODELS
            for p in ZS_ENABLED
            for kind in ("table.csv", "chart.png") + (("mrv.csv",) if ZS_PROTOCOLS[p].mrv else ())
        ],


if DEMO["enabled"]:

    rule demo_xm3600:
        input:
            tests=expand(f"{XFLICKRCO}/{{lang}}/test.jsonl", lang=LANGS["xflickrco_test"]),
            flickr30k_test=f"{FLICKR30K}/test_ann.jsonl",
            images=DATA["pretrain_images"],
        output:
            captions=ZS_XM3600["captions"],
            images=directory(ZS_XM3600["images"]),
        log:
            "logs/demo_xm3600.log",
        conda:
            "../environment.yml"
        params:
            langs=LANGS["xflickrco_test"],
            roots={"flickr": DATA["flickr_images"], "coco": DATA["coco_images"]},
        script:
            "../workflow/scripts/demo_xm3600.py"

    rule demo_zoo:
        input:
            tokenizer=tokenizer_dir(),
        output:
            config=f"{DEMO['out_dir']}/zoo/ccrk-demo-tiny-clip.json",
            weights=f"{DEMO['out_dir']}/zoo/tiny-open-clip.pt",
            siglip=directory(f"{DEMO['out_dir']}/zoo/tiny-siglip"),
        log:
            "logs/demo_zoo.log",
        conda:
            "../environment.yml"
        params:
            seed=DEMO["seed"],
        script:
            "../workflow/scripts/demo_zoo.py"
