TABLE_NAMES = "xflickrco|xflickrco_fewshot|wit|multi30k|mscoco"


rule retrieval_table:
    input:
        metrics=lambda wc: list(PROTOCOLS.table_rows(wc.table).values()),
    output:
        csv=report(
            "results/{table}_table.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}", "kind": "R@K per language (CSV)"},
        ),
        md="results/{table}_table.md",
    log:
        "logs/tables/{table}_table.log",
    wildcard_constraints:
        table=TABLE_NAMES,
    conda:
        "../environment.yml"
    params:
        rows=lambda wc: table_keys(PROTOCOLS.table_rows(wc.table)),
        average=lambda wc: wc.table in AVERAGED,
    script:
        "../workflow/scripts/retrieval_table.py"


rule mrv_table:
    input:
        ranks=lambda wc: list(PROTOCOLS.mrv_rows(wc.table).values()),
    output:
        csv=report(
            "results/{table}_mrv.csv",
            caption="../report/mrv.rst",
            category="Tables",
            labels={"table": "{table}", "kind": "MRV (CSV)"},
        ),
        md="results/{table}_mrv.md",
    log:
        "logs/tables/{table}_mrv.log",
    wildcard_constraints:
        table="|".join(MRV_TABLES),
    conda:
        "../environment.yml"
    params:
        rows=lambda wc: table_keys(PROTOCOLS.mrv_rows(wc.table)),
        directions=lambda wc: list(MRV_TABLES[wc.table]),
    script:
        "../workflow/scripts/mrv_table.py"


rule chart:
    input:
        table="results/{table}_table.csv",
    output:
        report(
            "results/{table}_chart.png",
            caption="../report/chart.rst",
            category="Charts",
            labels={"table": "{table}", "kind": "R@1 bar chart"},
        ),
    log:
        "logs/tables/{table}_chart.log",
    wildcard_constraints:
        table=TABLE_NAMES,
    conda:
        "../environment.yml"
    params:
        # published numbers are real-data results: never drawn beside the synthetic demo's bars
        published=lambda wc: None if DEMO["enabled"] else wc.table,
        title=lambda wc: f"{wc.table}: R@1" + (" (synthetic demo data)" if DEMO["enabled"] else ""),
        chance=100.0 / DEMO["n_test"] if DEMO["enabled"] else None,  # one gold image among n_test
    script:
        "../workflow/scripts/chart.py"


rule tables:
    input:
        expand(
            "results/{table}_{kind}",
            table=PROTOCOLS.enabled_tables(),
            kind=["table.csv", "table.md", "chart.png"],
        ),
        [f"results/{t}_mrv.csv" for t in PROTOCOLS.enabled_tables() if t in MRV_TABLES],
