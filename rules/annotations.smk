rule pretrain_corpus:
    input:
        given=DATA["pretrain_given"],
        translations=TRANSLATION_SHARDS,
        manifests=DOWNLOAD_MANIFESTS,
        images=DATA["pretrain_images"],
        downloaded=DOWNLOADED,
        shards=PRETRAIN_SHARDS,
    output:
        parts=CORPUS_PARTS,
        report="results/corpus/report.json",
    log:
        "logs/pretrain_corpus.log",
    conda:
        "../environment.yml"
    params:
        languages=LANGS["pretrain"],
        max_images=config["corpus"]["max_images"],
        seed=config["corpus"]["seed"],
        missing_images=MISSING_IMAGES,
    script:
        "../workflow/scripts/pretrain_corpus.py"


# Multi30K and MSCOCO raw sources -> the fine-tuning JSON of docs/method.md#multi30k-and-mscoco-json (defined when data: names them)
from ccrk.formats.multi30k import SPLITS as MULTI30K_SPLITS, TASK1_LANGS, TASK2_LANGS

MSCOCO = DATA.get("mscoco", {})
MSCOCO_DIR = annotations_dir("mscoco")
MSCOCO_TEST_FOLDS = PROTOCOLS.folds("mscoco")  # language -> folds (CCRK: 5 for en and ja), as evaluation cuts
# reformatted `image` paths are relative to image_root(): these are the image folders below it
FLICKR_DIR = os.path.relpath(DATA["flickr_images"], image_root())
COCO_DIR = os.path.relpath(os.path.dirname(DATA["coco_images"]), image_root())


if DATA.get("multi30k"):

    rule multi30k:
        input:
            root=DATA["multi30k"],
        output:
            json=expand(
                f"{annotations_dir('multi30k')}/{{split}}.{{lang}}.json",
                split=list(MULTI30K_SPLITS),
                lang=TASK2_LANGS + TASK1_LANGS,
            ),
            report=f"{annotations_dir('multi30k')}/report.json",
        log:
            "logs/multi30k.log",
        conda:
            "../environment.yml"
        params:
            languages=list(TASK2_LANGS + TASK1_LANGS),
            image_root=image_root(),
            image_dir=FLICKR_DIR,
            missing_images=MISSING_IMAGES,
        script:
            "../workflow/scripts/multi30k.py"


if MSCOCO.get("karpathy"):

    rule mscoco_en:
        input:
            source=MSCOCO["karpathy"],
        output:
            json=mscoco_files("en", MSCOCO_TEST_FOLDS.get("en", 1)),
            report=f"{MSCOCO_DIR}/en.report.json",
        log:
            "logs/mscoco_en.log",
        conda:
            "../environment.yml"
        params:
            lang="en",
            folds=MSCOCO_TEST_FOLDS.get("en", 1),
            image_root=image_root(),
            image_dir=COCO_DIR,
            missing_images=MISSING_IMAGES,
        script:
            "../workflow/scripts/mscoco.py"


if MSCOCO.get("yjcaptions"):

    rule mscoco_ja:
        input:
            source=MSCOCO["yjcaptions"],
            splits=list(MSCOCO["yjcaptions_splits"].values()),
        output:
            json=mscoco_files("ja", MSCOCO_TEST_FOLDS.get("ja", 1)),
            report=f"{MSCOCO_DIR}/ja.report.json",
        log:
            "logs/mscoco_ja.log",
        conda:
            "../environment.yml"
        params:
            lang="ja",
            folds=MSCOCO_TEST_FOLDS.get("ja", 1),
            split_names=list(MSCOCO["yjcaptions_splits"]),
            split_sizes=canonical(MSCOCO["yjcaptions_sizes"]),
            seed=MSCOCO["seed"],
            image_root=image_root(),
            image_dir=COCO_DIR,
            missing_images=MISSING_IMAGES,
        script:
            "../workflow/scripts/mscoco.py"


if MSCOCO.get("coco_cn_captions"):

    rule mscoco_zh:
        input:
            captions=MSCOCO["coco_cn_captions"],
            splits=list(MSCOCO["coco_cn_splits"].values()),
        output:
            json=mscoco_files("zh", MSCOCO_TEST_FOLDS.get("zh", 1)),
            report=f"{MSCOCO_DIR}/zh.report.json",
        log:
            "logs/mscoco_zh.log",
        conda:
            "../environment.yml"
        params:
            lang="zh",
            folds=MSCOCO_TEST_FOLDS.get("zh", 1),
            split_names=list(MSCOCO["coco_cn_splits"]),
            image_root=image_root(),
            image_dir=COCO_DIR,
            missing_images=MISSING_IMAGES,
        script:
            "../workflow/scripts/mscoco.py"
