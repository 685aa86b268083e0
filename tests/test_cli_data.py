"""The real-data subcommands on the raw fixtures write what their rules write, their settings read from
--config (validated, schema defaults filled) rather than from defaults argparse would repeat."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import FIXTURES, REPO, snakemake_command
from tests.test_reformat import COCO_CN, KARPATHY, M30K, _yj
from tests.test_wit import _b64_png, _urls

WIT = FIXTURES / "iglue" / "datasets" / "wit" / "annotations"
RULE_TARGETS = [
    "results/annotations/multi30k/report.json",
    "results/annotations/mscoco/en.report.json",
    "results/annotations/mscoco/ja.report.json",
    "results/annotations/mscoco/zh.report.json",
    "results/annotations/wit/test.report.json",
]


def _ccrk(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ccrk", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def rule_run(tmp_path_factory):
    """Snakemake's multi30k, mscoco_{en,ja,zh} and wit_join_test on the fixtures; images partly absent (skip)."""
    tmp = tmp_path_factory.mktemp("cli_data")
    images = tmp / "images" / "flickr30k-images"
    images.mkdir(parents=True)
    for name in (M30K / "task1" / "image_splits" / "val.txt").read_text().split()[:-1]:
        (images / name).touch()  # the val images but the last; every other image is missing
    (tmp / "pixels").mkdir()
    lines = [f"{u}\t{_b64_png(u)}\n" for u in sorted(set(_urls("tr")))]
    (tmp / "pixels" / "test.csv").write_text("".join(lines[:-3]))  # 3 images without pixels
    _yj(tmp / "yj.json")
    for split, key in (("train", "COCO_train2014_000000106199"), ("val", "COCO_train2014_000000128475")):
        (tmp / f"cn_{split}.txt").write_text(key + "\n")
    (tmp / "cn_test.txt").write_text("COCO_val2014_000000217153\n")
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg["data"] = {
        "iglue_root": str(FIXTURES / "iglue"),
        "flickr_images": str(images),
        "coco_images": str(tmp / "images" / "coco" / "val2014"),
        "image_root": str(tmp / "images"),
        "missing_images": "skip",  # the schema's default is fail: the commands must read this
        "pretrain_given": "given.jsonl",
        "pretrain_images": str(tmp / "web"),
        "multi30k": str(M30K),
        "wit": {"test_pixels": [str(tmp / "pixels")]},
        "mscoco": {
            "karpathy": str(KARPATHY),
            "yjcaptions": str(tmp / "yj.json"),
            "yjcaptions_sizes": {"val": 1, "test": 2},
            "seed": 3,
            "coco_cn_captions": [str(COCO_CN)],
            "coco_cn_splits": {s: str(tmp / f"cn_{s}.txt") for s in ("train", "val", "test")},
        },
    }
    # every ja image is missing (skipped): one fold; the CLI reads protocols.mscoco.folds as the rule does
    cfg["protocols"] = {"wit_zeroshot": {"languages": ["tr"]}, "mscoco": {"folds": {"en": 1, "ja": 1}}}
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = subprocess.run(
        snakemake_command(tmp, "--cores", 2, *RULE_TARGETS, "--configfile", tmp / "config.yaml"),
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp


def _same_files(rule_dir, cli_dir, pattern):
    rule_files = sorted(p.name for p in rule_dir.glob(pattern))
    assert rule_files and rule_files == sorted(p.name for p in cli_dir.glob(pattern))
    for name in rule_files:
        assert (rule_dir / name).read_bytes() == (cli_dir / name).read_bytes(), name


def test_multi30k_and_mscoco_commands_write_what_their_rules_write(rule_run):
    tmp, cfg = rule_run, rule_run / "config.yaml"
    rule, cli = tmp / "results" / "annotations", tmp / "cli"
    images = ["--image-root", tmp / "images"]
    out = _ccrk("multi30k", "--config", cfg, "--root", M30K, "--out-dir", cli / "multi30k", *images, cwd=tmp)
    assert out.returncode == 0, out.stderr
    _same_files(rule / "multi30k", cli / "multi30k", "*.json")  # reports too: the same images skipped
    cn_splits = [f"{s}={tmp / f'cn_{s}.txt'}" for s in ("train", "val", "test")]
    for lang, source in (
        ("en", ["--source", KARPATHY]),
        ("ja", ["--source", tmp / "yj.json"]),  # the seeded split: sizes and seed from data.mscoco
        ("zh", ["--captions", COCO_CN, "--split", *cn_splits]),
    ):
        mscoco = ["mscoco", "--lang", lang, *source, *images]
        out = _ccrk(*mscoco, "--config", cfg, "--out-dir", cli / "mscoco", cwd=tmp)
        assert out.returncode == 0, out.stderr
        _same_files(rule / "mscoco", cli / "mscoco", f"{lang}.*.json")
    # without --config the schema's default applies: a missing image fails the command, and nothing is written
    out = _ccrk("mscoco", "--lang", "en", "--source", KARPATHY, *images, "--out-dir", tmp / "strict", cwd=tmp)
    assert out.returncode == 1 and "ccrk mscoco: error:" in out.stderr and "image" in out.stderr
    assert not list((tmp / "strict").glob("en.*.json"))


def test_wit_join_writes_what_its_rule_writes_and_defaults_to_the_schema(rule_run):
    tmp, cfg = rule_run, rule_run / "config.yaml"
    rule = tmp / "results" / "annotations" / "wit"
    args = ["--annotations", WIT / "test_tr.jsonl", "--pixels", tmp / "pixels"]
    out = _ccrk(
        "wit-join",
        "--config",
        cfg,
        *args,
        "--out",
        tmp / "cli" / "test_tr.jsonl",
        "--report",
        tmp / "cli" / "r.json",
        cwd=tmp,
    )
    assert out.returncode == 0, out.stderr
    assert (rule / "test_tr.jsonl").read_bytes() == (tmp / "cli" / "test_tr.jsonl").read_bytes()
    ours = json.loads((tmp / "cli" / "r.json").read_text())["annotation_files"]
    assert ours == json.loads((rule / "test.report.json").read_text())["annotation_files"]
    assert next(iter(ours.values()))["joined_annotations"] < 721  # some skipped: data.missing_images was read
    # no --config: data.missing_images' schema default, fail (argparse used to say skip)
    out = _ccrk(
        "wit-join",
        *args,
        "--out",
        tmp / "strict" / "test_tr.jsonl",
        "--report",
        tmp / "strict" / "r.json",
        cwd=tmp,
    )
    assert out.returncode == 1 and "ccrk wit-join: error:" in out.stderr
    assert not (tmp / "strict" / "test_tr.jsonl").exists()


def test_a_config_that_does_not_validate_stops_the_command_naming_the_key(rule_run, tmp_path):
    bad = yaml.safe_load((rule_run / "config.yaml").read_text())
    bad["data"]["missing_images"] = "ignore"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    out = _ccrk(
        "multi30k",
        "--config",
        tmp_path / "bad.yaml",
        "--root",
        M30K,
        "--out-dir",
        tmp_path / "o",
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert "data.missing_images: 'ignore' is not one of ['fail', 'skip']" in out.stderr
    assert not (tmp_path / "o").exists()  # nothing ran
