import os

from ccrk.data.tar_shards import expand_shards

# every job runs offline: a transformers hub lookup would otherwise retry for about 50 s
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

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
