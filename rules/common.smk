import os

from ccrk.data.tar_shards import expand_shards
from ccrk.config import SPEED_ONLY, PretrainConfig, result_settings, speed_resources

# every job runs offline: a transformers hub lookup would otherwise retry for about 50 s
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# torch's large CPU buffers on transparent huge pages (ccrk/__init__.py), also where a script imports torch first
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

DEMO = config["demo"]
LANGS = config["languages"]
TRANSLATE = config["translate"]

if DEMO["enabled"]:
    _d = DEMO["out_dir"]
    DATA = {
        "iglue_root": f"{_d}/iglue",
        "flickr_images": f"{_d}/images/flickr30k-images",
        "coco_images": f"{_d}/images/val2014",
        "pretrain_given": f"{_d}/pretrain/given.jsonl",
        "pretrain_images": f"{_d}/images",
    }
else:
    DATA = config["data"]

IGLUE = f"{DATA['iglue_root']}/datasets"
FLICKR30K = f"{IGLUE}/flickr30k/annotations"
XFLICKRCO = f"{IGLUE}/xFlickrCO/annotations"
# webdataset tars of pretraining images the user already has (img2dataset's output, a pre-sharded copy)
PRETRAIN_SHARDS = expand_shards(DATA.get("pretrain_shards"))
CORPUS_PARTS = [f"results/corpus/part-{i:05d}.jsonl" for i in range(config["corpus"]["parts"])]
# no language to translate (the paper's 6-language sets): no translate jobs
TRANSLATION_SHARDS = [
    f"results/translate/shard-{i:03d}.jsonl" for i in range(TRANSLATE["shards"]) if LANGS["translated"]
]


wildcard_constraints:
    lang="[a-z]{2}",
    shard="[0-9]{3}",


def canonical(value):
    """A params value with dict keys sorted at every level: Snakemake compares params by their repr, so the same
    settings in another key order (another config file's layout) must not rerun anything."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def result_params(stage, settings):
    """A stage's settings as a params value: canonical, without the speed-only ones (ccrk.config.SPEED_ONLY);
    a function of the wildcards when `settings` is one."""
    if callable(settings):
        return lambda wc: result_params(stage, settings(wc))
    return canonical(result_settings(stage, settings))


def speed(stage, settings):
    """A stage's speed-only settings as resources (name -> value, or -> function of the wildcards when
    `settings` is one): the job gets them, but they are not params, so a change reruns nothing."""
    if not callable(settings):
        return speed_resources(stage, settings)
    return {
        name: (lambda wc, name=name: speed_resources(stage, settings(wc))[name])
        for name in SPEED_ONLY[stage].values()
    }


def m2m_dir():
    """The local M2M-100 directory the jobs read (an input: missing, the DAG stops); EasyNMT may name a model."""
    model, backend = TRANSLATE["model"], TRANSLATE["backend"]
    local = backend in ("transformers", "ctranslate2") or (backend == "easynmt" and "/" in model)
    return model if local else []


def init_weights():
    """The model.init files pretraining reads (XLM-R directory, Swin checkpoint): inputs, so a missing one stops
    the DAG, not the job."""
    return [p for p in (config["model"].get("init") or {}).values() if p]


def image_dirs():
    """The image folders a stage reads; in the demo, the one folder demo_dataset writes."""
    if DEMO["enabled"]:
        return [DATA["pretrain_images"]]
    return [DATA["flickr_images"], DATA["coco_images"]]


def tokenizer_dir():
    """A local XLM-R directory from config, or the tokenizer trained on the corpus."""
    return config["tokenizer"]["path"] or "results/tokenizer"


def pretrained_model():
    """What fine-tuning starts from: a released CCRK/CCLM checkpoint (pretrain.checkpoint) or our pretraining."""
    released = config["pretrain"].get("checkpoint", "")
    if released and not config["tokenizer"]["path"]:
        raise ValueError(
            "pretrain.checkpoint needs tokenizer.path: a released model reads the xlm-roberta-large tokenizer"
        )
    return released or "results/pretrain/model.pt"


def annotations_dir(dataset):
    """Reformatted fine-tuning annotations (docs/method.md#multi30k-and-mscoco-json: multi30k, mscoco; docs/method.md#wit: wit joined with pixels)."""
    return f"results/annotations/{dataset}"


def image_root():
    """What Multi30K/MSCOCO `image` paths are relative to (docs/method.md#multi30k-and-mscoco-json): the folder of flickr30k-images."""
    return DATA.get("image_root") or os.path.dirname(DATA["flickr_images"])


def mscoco_files(lang, folds):
    """The reformatted MSCOCO files of one language: its splits, and with folds > 1 its test folds."""
    names = ["train", "val", "test"] + ([f"test.fold{k}" for k in range(folds)] if folds > 1 else [])
    return [f"{annotations_dir('mscoco')}/{lang}.{name}.json" for name in names]


MAIN_SEED = config["pretrain"].get("seed", PretrainConfig.seed)


def ablation_eval(method, seed, kind):
    """One method's per-language eval files (kind: metrics.json or ranks.csv) for one pretraining seed."""
    if method == "one_to_k" and int(seed) == MAIN_SEED:
        return [PROTOCOLS.eval_file("xflickrco", "zeroshot", lang, kind) for lang in ABLATION_LANGS]
    return [f"results/ablation/{method}/seed{seed}/eval/{lang}_{kind}" for lang in ABLATION_LANGS]
