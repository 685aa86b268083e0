# The evaluation protocols of docs/method.md#protocols (ccrk/protocols.py): what each (dataset, setting, language) reads.
from ccrk.protocols import AVERAGED, FORMAT, MRV_TABLES, DataDirs, Protocols

PROTOCOLS = Protocols(
    config,
    DataDirs(
        iglue=IGLUE,
        wit=annotations_dir("wit"),
        multi30k=annotations_dir("multi30k"),
        mscoco=annotations_dir("mscoco"),
    ),
    pretrained=pretrained_model(),
)
IMAGE_ROOTS = {
    "flickr": DATA["flickr_images"],
    "coco": DATA["coco_images"],
    "root": image_root(),
}


def protocol_roots(dataset):
    """The image roots a protocol's format reads (only those, so that params follow meaning)."""
    if FORMAT[dataset] == "iglue":
        return {"flickr": IMAGE_ROOTS["flickr"], "coco": IMAGE_ROOTS["coco"]}
    return {"root": IMAGE_ROOTS["root"]}


def protocol_images(dataset):
    """Image folders a protocol reads; WIT records carry their pixels."""
    if dataset == "xflickrco":
        return image_dirs()
    return [] if dataset == "wit" else [IMAGE_ROOTS["root"]]


def _stage_config(stage):
    return {"finetune": PROTOCOLS.finetune_config, "evaluate": PROTOCOLS.evaluate_config}[stage]


def run_config(stage):
    """wildcards -> the `finetune` or `evaluate` settings of the job's run {run}, protocol overrides merged."""
    return lambda wc: _stage_config(stage)(*PROTOCOLS.parse_run(wc.run)[:2])


def setting_config(stage, dataset):
    """wildcards -> the `finetune` or `evaluate` settings of `dataset`'s run {setting}."""
    return lambda wc: _stage_config(stage)(dataset, wc.setting)


def run_threads(wc):
    """The job's CPU threads: its run's protocol `threads` (small per-language jobs run side by side on 1 each)."""
    return PROTOCOLS.threads(*PROTOCOLS.parse_run(wc.run)[:2])


def setting_threads(dataset):
    """wildcards -> the CPU threads of `dataset`'s run {setting}."""
    return lambda wc: PROTOCOLS.threads(dataset, wc.setting)


def table_keys(rows):
    """Row keys of a table as plain lists (params hold builtins): [lang] or [setting, lang]."""
    return [list(k) if isinstance(k, tuple) else [k] for k in rows]


# a fine-tuning run: dataset/setting, or dataset/setting/lang for the settings with a model per language
RUN_PATTERN = "(xflickrco|wit)/zeroshot|(multi30k|mscoco)/(en|all)|(xflickrco/fewshot|(multi30k|mscoco)/single)/[a-z]{2}"
PER_LANGUAGE_RUN = "(xflickrco/fewshot|(multi30k|mscoco)/single)/[a-z]{2}"
