"""`python -m ccrk` subcommands of the real-data stages: download, retry, WIT join, Multi30K/MSCOCO reformatting."""

from __future__ import annotations

from dataclasses import fields

from ccrk.cli.options import add_config, add_setting


def _download_settings(a, given_only: bool = False) -> dict:
    """data.download of --config (schema defaults filled), with every --<setting> flag given laid over it;
    `given_only`: the flags given on the command line alone."""
    from ccrk.download.shards import DownloadConfig

    names = [f.name for f in fields(DownloadConfig) if getattr(a, f.name) is not None]
    return {n: getattr(a, n) for n in names if not given_only or n in a.flags_given}


def _download(a):
    from ccrk.download.shards import download_config, download_list_shard

    print(
        download_list_shard(
            a.urls,
            a.format,
            a.shard,
            a.shards,
            a.images_root,
            a.subdir,
            a.manifest,
            a.stats,
            download_config(_download_settings(a)),
            a.captions,
        )
    )


def _retry(a):
    from ccrk.download.shards import download_config, retry_failed
    from ccrk.io import read_json

    # the shard's own settings (its stats); a flag given here overrides one, and a change that would mix
    # images of two settings in one shard is refused by retry_failed
    settings = {**read_json(a.stats)["settings"], **_download_settings(a, given_only=True)}
    print(
        retry_failed(
            a.manifest,
            a.stats,
            a.images_root,
            download_config(settings),
            a.kinds.split(",") if a.kinds else None,
        )
    )


def _wit(a):
    from ccrk.formats.wit_pixels import join_wit

    join_wit(a.annotations, a.pixels, a.out, a.report, a.missing_images)


def _multi30k(a):
    from ccrk.formats.multi30k import write_multi30k
    from ccrk.io import write_json

    report = write_multi30k(
        a.root, a.out_dir, a.languages.split(","), a.image_root, a.missing_images, a.image_dir
    )
    write_json(f"{a.out_dir}/report.json", report)


def _mscoco_folds(a) -> int:
    """--folds, else the language's entry of protocols.mscoco.folds (config, then schema), else 1."""
    from ccrk.configfile import value_of

    if a.folds is not None:
        if a.folds < 1:
            raise SystemExit(f"--folds must be >= 1, got {a.folds}")
        return a.folds
    return value_of(a.cfg, "protocols.mscoco.folds").get(a.lang, 1)


def _mscoco(a):
    from ccrk.formats.mscoco import mscoco_files

    mscoco_files(
        a.lang,
        a.source,
        a.out_dir,
        a.image_root,
        a.missing_images,
        a.image_dir,
        splits=dict(s.split("=", 1) for s in a.split),
        captions=a.captions,
        folds=_mscoco_folds(a),
        split_sizes={"val": a.val_size, "test": a.test_size},
        seed=a.seed,
    )


def add_data_commands(cmd) -> None:
    """Register the subcommands with `cmd(name, fn, help)` of ccrk.cli."""
    from ccrk.download.shards import DownloadConfig
    from ccrk.download.urls import FORMATS
    from ccrk.formats.multi30k import TASK1_LANGS, TASK2_LANGS

    def settings_flags(s, config: bool = True):
        if config:  # download-retry has none: a shard is retried with its own settings (its stats)
            add_config(s, what="data.download")
        for f in fields(DownloadConfig):  # schema ranges: --threads 0 or --timeout 0 is refused
            add_setting(s, f"--{f.name.replace('_', '-')}", f"data.download.{f.name}")

    s = cmd(
        "download",
        _download,
        "download one shard of an image URL list: images, manifest, stats "
        "(rule download_images); a killed run resumes",
    )
    s.add_argument("--urls", required=True)
    s.add_argument(
        "--format", default="tsv", choices=FORMATS, help="tsv: CC3M caption<TAB>url; urls: SBU; coco"
    )
    s.add_argument("--captions", help="line-aligned captions of a `urls` list")
    s.add_argument("--shard", type=int, default=0)
    s.add_argument("--shards", type=int, default=1)
    s.add_argument("--images-root", required=True)
    s.add_argument("--subdir", required=True, help="images go to IMAGES_ROOT/SUBDIR/<key>.jpg")
    s.add_argument("--manifest", required=True)
    s.add_argument("--stats", required=True)
    settings_flags(s)
    s = cmd("download-retry", _retry, "fetch the failed rows of a finished download shard again")
    s.add_argument("--manifest", required=True)
    s.add_argument("--stats", required=True)
    s.add_argument("--images-root", required=True)
    s.add_argument(
        "--kinds",
        help="comma-separated error kinds to retry (default: every failed row); unknown ones are an error",
    )
    settings_flags(s, config=False)
    s = cmd("wit-join", _wit, "join IGLUE WIT annotations with Kaggle pixel CSVs (rules wit_join_*)")
    s.add_argument("--annotations", nargs="+", required=True)
    s.add_argument("--pixels", nargs="+", required=True, help="pixel CSV files (.csv or .csv.gz)")
    s.add_argument("--out", nargs="+", required=True, help="one output per annotation file")
    s.add_argument("--report", required=True)
    add_config(s, what="data.missing_images")
    add_setting(s, "--missing-images", "data.missing_images")
    s = cmd("multi30k", _multi30k, "Multi30K raw task1/task2 files -> {train,val,test_2016_flickr}.LANG.json")
    s.add_argument("--root", required=True, help="the data/ folder of a multi30k/dataset checkout")
    s.add_argument("--out-dir", required=True)
    s.add_argument("--languages", default=",".join(TASK2_LANGS + TASK1_LANGS), help="default: %(default)s")
    s.add_argument("--image-root", help="check that every image exists under it")
    s.add_argument("--image-dir", default="flickr30k-images", help="image folder, relative to the image root")
    add_config(s, what="data.missing_images")
    add_setting(s, "--missing-images", "data.missing_images")
    s = cmd(
        "mscoco",
        _mscoco,
        "COCO captions -> LANG.{train,val,test}.json: en Karpathy, ja YJ Captions, zh COCO-CN",
    )
    s.add_argument("--lang", required=True, choices=["en", "ja", "zh"])
    s.add_argument("--source", help="dataset_coco.json (en) or the YJ Captions JSON (ja)")
    s.add_argument("--captions", nargs="*", default=[], help="COCO-CN caption files (zh)")
    s.add_argument(
        "--split",
        nargs="*",
        default=[],
        metavar="SPLIT=FILE",
        help="image lists: train/val/test for zh; val/test for ja (else a seeded split)",
    )
    s.add_argument("--out-dir", required=True)
    s.add_argument("--image-root", help="check that every image exists under it")
    s.add_argument(
        "--image-dir", default="coco", help="COCO folder (holding train2014/, val2014/) under the root"
    )
    add_config(s, what="data.missing_images, data.mscoco, protocols.mscoco.folds")
    add_setting(s, "--missing-images", "data.missing_images")
    add_setting(s, "--val-size", "data.mscoco.yjcaptions_sizes.val", "ja without split files: seeded split")
    add_setting(s, "--test-size", "data.mscoco.yjcaptions_sizes.test", "ja without split files: seeded split")
    add_setting(s, "--seed", "data.mscoco.seed", "seed of the ja split")
    s.add_argument(
        "--folds",
        type=int,
        default=None,
        help="also write LANG.test.fold{0..N-1}.json, cut as evaluation cuts them; default: "
        "protocols.mscoco.folds[LANG] of --config, else the schema's (CCRK: 5 for en and ja, else 1)",
    )
