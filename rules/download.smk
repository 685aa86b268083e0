# Real-data images: URL lists -> sharded, verified images + manifests (data.downloads); WIT pixel join (data.wit).
DOWNLOADS = DATA.get("downloads", {})
WIT_DATA = DATA.get("wit", {})
MISSING_IMAGES = DATA.get("missing_images", "fail")
DOWNLOAD_MANIFESTS = [
    f"results/download/{name}/manifest-{shard:03d}.jsonl"
    for name, spec in DOWNLOADS.items()
    for shard in range(spec["shards"])
]
DOWNLOAD_FORMAT = DATA.get("download", {}).get("output_format", "webdataset")
# what each shard stores under pretrain_images: <name>/<shard:05d>.tar (+ .parquet, _stats.json), or a folder
_STORED = "{name}/00{shard}.tar" if DOWNLOAD_FORMAT == "webdataset" else "{name}/{shard}"
DOWNLOADED = [
    f"{DATA['pretrain_images']}/{_STORED.format(name=name, shard=f'{shard:03d}')}"
    for name, spec in DOWNLOADS.items()
    for shard in range(spec["shards"])
]
if DOWNLOAD_FORMAT == "webdataset":
    DOWNLOAD_OUTPUTS = {
        "tar": f"{DATA['pretrain_images']}/{{name}}/00{{shard}}.tar",
        "parquet": f"{DATA['pretrain_images']}/{{name}}/00{{shard}}.parquet",
        "shard_stats": f"{DATA['pretrain_images']}/{{name}}/00{{shard}}_stats.json",
    }
else:
    DOWNLOAD_OUTPUTS = {"images": directory(f"{DATA['pretrain_images']}/{{name}}/{{shard}}")}

_WIT_TRAIN = f"{IGLUE}/wit/annotations/train_en.jsonl"
# train_en.jsonl if unzipped, else the published train_en.jsonl.zip
WIT_TRAIN_ANNOTATIONS = [
    _WIT_TRAIN if os.path.exists(_WIT_TRAIN) else f"{_WIT_TRAIN}.zip",
    f"{IGLUE}/wit/annotations/val_en.jsonl",
]


if DOWNLOADS:
    from ccrk.download.shards import DownloadConfig

    # the shards fill this root; rule pretrain reads it as an input, so it has to exist when the DAG is built
    os.makedirs(DATA["pretrain_images"], exist_ok=True)
    # the thread count changes how fast a shard downloads, not what it stores: a resource, not a param
    DOWNLOAD_THREADS = DATA["download"].get("threads", DownloadConfig.threads)
    DOWNLOAD_SETTINGS = canonical({k: v for k, v in DATA["download"].items() if k != "threads"})

    rule download_images:
        input:
            urls=lambda w: DOWNLOADS[w.name]["urls"],
            captions=lambda w: DOWNLOADS[w.name].get("captions", []),
        output:
            **DOWNLOAD_OUTPUTS,
            manifest="results/download/{name}/manifest-{shard}.jsonl",
            stats="results/download/{name}/stats-{shard}.json",
        log:
            "logs/download/{name}-{shard}.log",
        wildcard_constraints:
            name="|".join(DOWNLOADS),
        conda:
            "../environment.yml"
        resources:
            download_threads=DOWNLOAD_THREADS,
        params:
            format=lambda w: DOWNLOADS[w.name]["format"],
            shards=lambda w: DOWNLOADS[w.name]["shards"],
            settings=DOWNLOAD_SETTINGS,
        script:
            "../workflow/scripts/download_images.py"

    rule download_report:
        input:
            stats=lambda w: expand(
                "results/download/{name}/stats-{shard:03d}.json",
                name=w.name,
                shard=range(DOWNLOADS[w.name]["shards"]),
            ),
        output:
            "results/download/{name}/report.json",
        log:
            "logs/download/{name}-report.log",
        wildcard_constraints:
            name="|".join(DOWNLOADS),
        conda:
            "../environment.yml"
        script:
            "../workflow/scripts/download_report.py"


if WIT_DATA.get("test_pixels"):

    rule wit_join_test:
        input:
            annotations=expand(
                f"{IGLUE}/wit/annotations/test_{{lang}}.jsonl",
                lang=PROTOCOLS.languages("wit"),
            ),
            pixels=WIT_DATA["test_pixels"],
        output:
            joined=expand(
                f"{annotations_dir('wit')}/test_{{lang}}.jsonl",
                lang=PROTOCOLS.languages("wit"),
            ),
            report=f"{annotations_dir('wit')}/test.report.json",
        log:
            "logs/wit_join_test.log",
        conda:
            "../environment.yml"
        params:
            missing_images=MISSING_IMAGES,
        script:
            "../workflow/scripts/wit_join.py"


if WIT_DATA.get("train_pixels"):

    rule wit_join_train:
        input:
            annotations=WIT_TRAIN_ANNOTATIONS,
            pixels=WIT_DATA["train_pixels"],
        output:
            joined=[
                f"{annotations_dir('wit')}/train_en.jsonl",
                f"{annotations_dir('wit')}/val_en.jsonl",
            ],
            report=f"{annotations_dir('wit')}/train.report.json",
        log:
            "logs/wit_join_train.log",
        conda:
            "../environment.yml"
        params:
            missing_images=MISSING_IMAGES,
        script:
            "../workflow/scripts/wit_join.py"
