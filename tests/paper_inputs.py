"""The paper config as Snakemake merges it, and empty stand-ins for every input it names (tests, bench)."""

from pathlib import Path

from ccrk.configfile import load_config

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"
OVERLAYS = {p.stem: p for p in sorted((REPO / "config" / "paper").glob("*.yaml"))}
_XFLICKRCO_SHOTS = (1, 5, 10, 25, 50, 100)
_WIT_TEST = ("ar", "bg", "da", "el", "en", "et", "id", "ja", "ko", "tr", "vi")


def paper_configfiles(*overlays: str) -> list[Path]:
    """config/paper.yaml followed by the named overlays of config/paper/, as given to --configfile."""
    return [PAPER, *(OVERLAYS[name] for name in overlays)]


def merged_config(configfiles) -> dict:
    """Later files override earlier ones key by key (Snakemake's --configfile merge), then schema defaults."""
    return load_config(configfiles)


def iglue_files(cfg: dict) -> list[str]:
    """The files of an e-bug/iglue checkout the retrieval protocols read (xFlickr&CO, Flickr30K, WIT)."""
    root = f"{cfg['data']['iglue_root']}/datasets"
    files = [f"{root}/flickr30k/annotations/{s}_ann.jsonl" for s in ("train", "valid", "test")]
    for lang in cfg["languages"]["xflickrco_test"]:
        files.append(f"{root}/xFlickrCO/annotations/{lang}/test.jsonl")
        if lang != "en":
            files += [f"{root}/xFlickrCO/annotations/{lang}/train_{n}.jsonl" for n in _XFLICKRCO_SHOTS]
    files += [f"{root}/wit/annotations/test_{lang}.jsonl" for lang in _WIT_TEST]
    files += [f"{root}/wit/annotations/val_en.jsonl", f"{root}/wit/annotations/train_en.jsonl.zip"]
    return files


def user_inputs(cfg: dict) -> tuple[list[str], list[str]]:
    """(folders, files) a user provides for this config: data: paths, tokenizer, init weights, IGLUE files."""
    data, mscoco, wit = cfg["data"], cfg["data"].get("mscoco", {}), cfg["data"].get("wit", {})
    folders = [
        data[k]
        for k in ("iglue_root", "flickr_images", "coco_images", "pretrain_images", "image_root", "multi30k")
        if data.get(k)
    ]
    folders += wit.get("test_pixels", []) + wit.get("train_pixels", [])
    folders += [p for p in (cfg["tokenizer"]["path"], cfg["model"].get("init", {}).get("text", "")) if p]
    if cfg["translate"]["backend"] != "lexicon" and "/" in cfg["translate"]["model"]:
        folders.append(cfg["translate"]["model"])  # a local M2M-100 directory
    files = [data["pretrain_given"], *mscoco.get("coco_cn_captions", [])]
    files += [mscoco[k] for k in ("karpathy", "yjcaptions") if mscoco.get(k)]
    files += [*mscoco.get("yjcaptions_splits", {}).values(), *mscoco.get("coco_cn_splits", {}).values()]
    for source in data.get("downloads", {}).values():
        files += [source["urls"], *([source["captions"]] if source.get("captions") else [])]
    files += [
        p
        for p in (cfg["model"].get("init", {}).get("vision", ""), cfg["pretrain"].get("checkpoint", ""))
        if p
    ]
    return folders, files + iglue_files(cfg)


def write_paper_inputs(workdir, cfg: dict) -> list[Path]:
    """Create every input a user provides (`user_inputs`) under `workdir`: empty folders and empty files."""
    workdir = Path(workdir)
    folders, files = user_inputs(cfg)
    for rel in folders:
        (workdir / rel).mkdir(parents=True, exist_ok=True)
    for rel in files:
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).touch()
    return [workdir / p for p in folders + files]


def plan(workdir, configfiles, targets=()) -> tuple[dict, list, dict]:
    """Dry-run through the Snakemake API: (rule -> job count, the planned jobs, the config the workflow saw).

    No targets: the default target (rule all). Writes nothing but Snakemake's own metadata.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[Path(p) for p in configfiles]),
            snakefile=REPO / "Snakefile",
            workdir=Path(workdir),
        )
        wf.dag(DAGSettings(targets=set(targets))).execute_workflow(pseudo_executor="dryrun")
        workflow = wf._workflow  # the API exposes no job list; the DAG after planning holds it
        jobs = list(workflow.dag.jobs)
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job.rule.name] = counts.get(job.rule.name, 0) + 1
        return counts, jobs, dict(workflow.config)
