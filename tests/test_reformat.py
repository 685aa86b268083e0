"""Multi30K and MSCOCO reformatting on the real raw fixtures; missing images; path escapes."""

import gzip
import json
import shutil
import tarfile

import pytest

from ccrk.errors import DataError
from ccrk.formats.iglue import read_iglue
from ccrk.formats.image_policy import MissingImages
from ccrk.formats.mscoco import mscoco_files, read_coco_cn, read_karpathy
from ccrk.formats.multi30k import read_lines, write_multi30k
from tests.conftest import FIXTURES, snakemake_command

RAW = FIXTURES
M30K = RAW / "multi30k" / "data"
KARPATHY = RAW / "karpathy" / "dataset_coco.sample.json"
COCO_CN = RAW / "coco-cn" / "data" / "coco-cn_ext.icap2020.txt"
LANGS = ["en", "de", "fr", "cs"]
SHARD_FILES = (".parquet", ".tar", "_stats.json")  # what a webdataset download shard stores


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def multi30k(tmp_path_factory):
    out = tmp_path_factory.mktemp("multi30k")
    return out, write_multi30k(M30K, out, LANGS)


def test_multi30k_files_and_caption_counts(multi30k):
    out, report = multi30k
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{split}.{lang}.json" for split in ("train", "val", "test_2016_flickr") for lang in LANGS
    )
    for lang, k in (("en", 5), ("de", 5), ("fr", 1), ("cs", 1)):
        train = _load(out / f"train.{lang}.json")
        assert len(train) == 300 * k == report["files"][f"train.{lang}"]["captions"]
        assert set(train[0]) == {"caption", "image", "image_id"} and isinstance(train[0]["caption"], str)
        for split in ("val", "test_2016_flickr"):
            entries = _load(out / f"{split}.{lang}.json")
            assert len(entries) == 300 and all(len(e["caption"]) == k for e in entries)
    names = read_lines(M30K / "task1" / "image_splits" / "train.txt")
    train_de = _load(out / "train.de.json")
    # image-major: the 5 German captions of image i are lines i of task2 train.1..5.de, in file order
    assert [e["caption"] for e in train_de[5:10]] == [
        read_lines(M30K / "task2" / "raw" / f"train.{k}.de")[1] for k in range(1, 6)
    ]
    assert train_de[5]["image"] == f"flickr30k-images/{names[1]}" and train_de[5]["image_id"] == names[1][:-4]
    # fr from task1, raw (line 108 starts with a space, as published)
    assert (
        _load(out / "train.fr.json")[107]["caption"] == read_lines(M30K / "task1" / "raw" / "train.fr")[107]
    )
    assert _load(out / "train.fr.json")[107]["caption"].startswith(" Un homme")


def test_multi30k_test_english_is_flickr30k(multi30k):
    """task2 en = the Flickr30K captions: the IGLUE test_ann.jsonl sentences, as multisets, same image order."""
    out, _ = multi30k
    test_en = _load(out / "test_2016_flickr.en.json")
    iglue = read_iglue(RAW / "iglue" / "datasets" / "flickr30k" / "annotations" / "test_ann.jsonl")[:300]
    assert [e["image_id"] for e in test_en] == [r.id for r in iglue]
    assert all(sorted(e["caption"]) == sorted(r.sentences) for e, r in zip(test_en, iglue))
    task1 = read_lines(M30K / "task1" / "raw" / "test_2016_flickr.en")
    assert all(t in e["caption"] for t, e in zip(task1, test_en))  # the task1 caption is one of the five


def test_multi30k_misaligned_file_names_file_and_counts(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(M30K, root)
    short = root / "task1" / "raw" / "val.cs.gz"
    with gzip.open(short, "wt", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in read_lines(M30K / "task1" / "raw" / "val.cs")[:299]))
    with pytest.raises(DataError, match=r"val.cs: 299 lines, expected 300"):
        write_multi30k(root, tmp_path / "out", ["cs"])
    (root / "task1" / "image_splits" / "val.txt").write_text("../../etc/passwd\n" * 300)
    with pytest.raises(DataError, match=r"val.txt:1: field 'image'"):
        write_multi30k(root, tmp_path / "out", ["en"])


def test_missing_images_fail_or_skip_and_count(tmp_path):
    names = read_lines(M30K / "task1" / "image_splits" / "test_2016_flickr.txt")
    root = tmp_path / "images"
    (root / "flickr30k-images").mkdir(parents=True)
    for split in ("train", "val", "test_2016_flickr"):
        for name in read_lines(M30K / "task1" / "image_splits" / f"{split}.txt"):
            (root / "flickr30k-images" / name).touch()
    (root / "flickr30k-images" / names[2]).unlink()
    with pytest.raises(
        DataError,
        match=rf"test_2016_flickr.txt:3: field 'image': image 'flickr30k-images/{names[2]}' "
        "not found",
    ):
        write_multi30k(M30K, tmp_path / "fail", ["fr"], image_root=root)
    report = write_multi30k(M30K, tmp_path / "skip", ["fr", "cs"], image_root=root, missing_images="skip")
    assert report["missing_images_skipped"] == 1  # one image, counted once for both languages
    assert (
        report["files"]["test_2016_flickr.cs"]["images"] == 299
        and report["files"]["train.cs"]["images"] == 300
    )
    assert names[2][:-4] not in {e["image_id"] for e in _load(tmp_path / "skip" / "test_2016_flickr.fr.json")}


def test_paths_cannot_escape_the_image_root(tmp_path):
    images = MissingImages(tmp_path, "skip")
    for bad in ("../../etc/passwd", "/etc/passwd", "a/../../x.jpg"):
        with pytest.raises(DataError, match="escapes the image root|is absolute"):
            images.keep(bad, "ann.json", 4)
    assert images.report()["missing_images_skipped"] == 0  # an escape is an error under either policy


def test_karpathy_en_restval_joins_train_and_folds(tmp_path):
    data = _load(KARPATHY)
    splits = read_karpathy(KARPATHY)
    (test,), (train,) = splits["test"], splits["train"]
    assert (test.image, test.image_id) == ("coco/val2014/COCO_val2014_000000391895.jpg", 391895)
    assert (
        test.captions[0] == "A man with a red helmet on a small moped on a dirt road. "
    )  # raw, trailing space
    assert train.image == "coco/train2014/COCO_train2014_000000537772.jpg" and len(train.captions) == 5
    data["images"][1]["split"] = "restval"
    many = dict(data, images=data["images"] + [dict(data["images"][0], imgid=i) for i in range(1, 12)])
    (tmp_path / "k.json").write_text(json.dumps(many))
    report = mscoco_files("en", tmp_path / "k.json", tmp_path / "out", folds=5)
    assert _load(tmp_path / "out" / "en.train.json") == [
        {"caption": c, "image": train.image, "image_id": 537772} for c in train.captions
    ]
    test_entries = _load(tmp_path / "out" / "en.test.json")
    assert len(test_entries) == 12 and test_entries[0]["caption"] == test.captions
    assert [report["files"][f"en.test.fold{k}"]["images"] for k in range(5)] == [2, 2, 2, 2, 4]
    assert _load(tmp_path / "out" / "en.test.fold4.json") == test_entries[8:]
    with pytest.raises(
        ValueError, match=r"en.test: cannot split 12 images into 13 folds \(protocols.mscoco.folds\)"
    ):
        mscoco_files("en", tmp_path / "k.json", tmp_path / "out13", folds=13)


def test_karpathy_errors_name_the_record_and_field(tmp_path):
    data = _load(KARPATHY)
    data["images"][1]["filepath"] = "val2014"
    (tmp_path / "k.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"field 'images\[1\].filepath'"):
        read_karpathy(tmp_path / "k.json")
    (tmp_path / "k.json").write_text('{"images": [\n{"filepath": }]}')
    with pytest.raises(DataError, match=r"k.json:2: invalid JSON"):
        read_karpathy(tmp_path / "k.json")


def _yj(path):
    """A file written to the YJ Captions description (COCO caption format; no sample could be obtained)."""
    ids = [537772, 391895 + 1, 9, 25, 30, 34, 36, 42]
    images = [
        {"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "width": 640, "height": 480} for i in ids
    ]
    annotations = [
        {"image_id": i if n % 2 else str(i), "id": 100 * i + n, "caption": f"画像{i}の説明{n}"}
        for i in ids[:-1]
        for n in range(5 if i != 9 else 4)
    ]  # 9 has 4 captions; 42 has none
    annotations.append({"image_id": 777, "id": 1, "caption": "孤立した説明"})  # no such image
    path.write_text(
        json.dumps(
            {"info": {}, "licenses": [], "images": images, "annotations": annotations}, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    return ids


def test_yjcaptions_ja_with_split_files(tmp_path):
    ids = _yj(tmp_path / "yj.json")
    (tmp_path / "val.txt").write_text("9\n")
    (tmp_path / "test.txt").write_text("COCO_train2014_000000000025.jpg\n30\n34\n36\n537772\n")
    report = mscoco_files(
        "ja",
        tmp_path / "yj.json",
        tmp_path / "out",
        splits={"val": tmp_path / "val.txt", "test": tmp_path / "test.txt"},
        folds=5,
    )
    assert report["annotations_without_image"] == 1 and report["images_without_captions"] == 1
    assert report["split"] == "files"
    val = _load(tmp_path / "out" / "ja.val.json")
    assert val == [
        {
            "image": "coco/train2014/COCO_train2014_000000000009.jpg",
            "caption": [f"画像9の説明{n}" for n in range(4)],
            "image_id": 9,
        }
    ]
    assert [e["image_id"] for e in _load(tmp_path / "out" / "ja.test.json")] == [537772, 25, 30, 34, 36]
    assert {e["image_id"] for e in _load(tmp_path / "out" / "ja.train.json")} == {ids[1]}
    assert [report["files"][f"ja.test.fold{k}"]["images"] for k in range(5)] == [1, 1, 1, 1, 1]


def test_yjcaptions_seeded_split_is_reproducible_and_marked(tmp_path):
    _yj(tmp_path / "yj.json")
    a = mscoco_files("ja", tmp_path / "yj.json", tmp_path / "a", split_sizes={"val": 1, "test": 2}, seed=3)
    mscoco_files("ja", tmp_path / "yj.json", tmp_path / "b", split_sizes={"val": 1, "test": 2}, seed=3)
    assert "seeded" in a["split"] and a["files"]["ja.test"]["images"] == 2
    for split in ("train", "val", "test"):
        assert (tmp_path / "a" / f"ja.{split}.json").read_bytes() == (
            tmp_path / "b" / f"ja.{split}.json"
        ).read_bytes()


def test_coco_cn_zh_groups_distant_lines_of_one_image(tmp_path):
    keys = list(
        dict.fromkeys(line.split("#")[0] for line in COCO_CN.read_text(encoding="utf-8").splitlines())
    )
    assert len(keys) == 4573
    assert "COCO_train2014_000000106199" in keys
    (tmp_path / "test.txt").write_text("COCO_train2014_000000106199\nCOCO_val2014_000000217153.jpg\n")
    (tmp_path / "val.txt").write_text("COCO_val2014_000000999999\n")  # no captions: counted, dropped
    (tmp_path / "train.txt").write_text("".join(k + "\n" for k in keys[100:200]))
    splits = {s: tmp_path / f"{s}.txt" for s in ("train", "val", "test")}
    report = mscoco_files("zh", None, tmp_path / "out", captions=[COCO_CN], splits=splits)
    test = _load(tmp_path / "out" / "zh.test.json")
    assert (
        test[0]["image"] == "coco/train2014/COCO_train2014_000000106199.jpg" and test[0]["image_id"] == 106199
    )
    assert len(test[0]["caption"]) == 2  # lines 1681 (#0) and 2021 (#1)
    assert test[1] == {
        "image": "coco/val2014/COCO_val2014_000000217153.jpg",
        "caption": ["一个男人和一个女人穿着军装玩手机。"],
        "image_id": 217153,
    }
    assert report["split_images_without_captions"] == 1 and _load(tmp_path / "out" / "zh.val.json") == []
    lines = [line.split("\t", 1) for line in COCO_CN.read_text(encoding="utf-8").splitlines()]
    wanted = set(keys[100:200])
    assert report["files"]["zh.train"]["captions"] == sum(k.split("#")[0] in wanted for k, _ in lines)
    assert "zh.test.fold0" not in report["files"]  # no folds unless asked (CCRK folds en and ja only)


def test_coco_cn_bad_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "c.txt"
    bad.write_text("COCO_val2014_000000217153#0\t一个\nCOCO_val2014_000000217153 二个\n", encoding="utf-8")
    split = tmp_path / "s.txt"
    split.write_text("COCO_val2014_000000217153\n")
    with pytest.raises(DataError, match=r"c.txt:2: field 'key'"):
        read_coco_cn([bad], {"test": split})
    bad.write_text("COCO_val2014_000000217153#0\t一个\nCOCO_val2014_000000217153#0\t二个\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"c.txt:2: field 'key': COCO_val2014_000000217153#0 already given at .*c.txt:1"
    ):
        read_coco_cn([bad], {"test": split})
    split.write_text("../../etc/passwd\n")
    bad.write_text("COCO_val2014_000000217153#0\t一个\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"s.txt:1: expected a COCO 2014 file name"):
        read_coco_cn([bad], {"test": split})


def test_rules_run_from_the_raw_fixtures(tmp_path):
    """One Snakemake run of every real-data rule on the raw fixtures (and a local image server), then nothing left."""
    import subprocess

    import yaml

    from tests.conftest import REPO
    from tests.image_server import ImageServer
    from tests.test_wit import _b64_png, _urls

    images = tmp_path / "images"
    for name in read_lines(M30K / "task1" / "image_splits" / "val.txt")[:-1]:  # the last val image is absent
        (images / "flickr30k-images").mkdir(parents=True, exist_ok=True)
        (images / "flickr30k-images" / name).touch()
    (tmp_path / "pixels").mkdir()
    (tmp_path / "pixels" / "test.csv").write_text("".join(f"{u}\t{_b64_png(u)}\n" for u in set(_urls("tr"))))
    for split, key in (
        ("train", "COCO_train2014_000000106199"),
        ("val", "COCO_train2014_000000128475"),
        ("test", "COCO_val2014_000000217153"),
    ):
        (tmp_path / f"cn_{split}.txt").write_text(key + "\n")
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["demo"]["enabled"] = False
    cfg["data"] = {
        "iglue_root": str(RAW / "iglue"),
        "flickr_images": str(images / "flickr30k-images"),
        "coco_images": str(images / "coco" / "val2014"),
        "image_root": str(images),
        "missing_images": "skip",
        "pretrain_given": "given.jsonl",
        "pretrain_images": str(tmp_path / "web"),
        "downloads": {"cc3m": {"urls": str(tmp_path / "urls.tsv"), "shards": 2}},
        "download": {"timeout": 0.5, "threads": 4, "image_size": 32, "allow_hosts": ["127.0.0.1"]},
        "multi30k": str(M30K),
        "wit": {"test_pixels": [str(tmp_path / "pixels")]},
        "mscoco": {
            "karpathy": str(KARPATHY),
            "coco_cn_captions": [str(COCO_CN)],
            "coco_cn_splits": {s: str(tmp_path / f"cn_{s}.txt") for s in ("train", "val", "test")},
        },
    }
    # the WIT test files joined are the protocol's; the sample's 1 English test image makes no folds
    cfg["protocols"] = {"wit_zeroshot": {"languages": ["tr"]}, "mscoco": {"folds": {"en": 1}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    targets = [
        "results/annotations/multi30k/report.json",
        "results/annotations/mscoco/en.report.json",
        "results/annotations/mscoco/zh.report.json",
        "results/annotations/wit/test.report.json",
        "results/download/cc3m/report.json",
    ]
    cmd = snakemake_command(tmp_path, "--configfile", tmp_path / "config.yaml", "--cores", 2, *targets)
    with ImageServer() as server:
        (tmp_path / "urls.tsv").write_text(
            f"a\t{server.url}/good/1.jpg\nb\t{server.url}/missing\nc\t{server.url}/x\n"
        )
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        again = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr
    results = tmp_path / "results"
    multi30k = _load(results / "annotations" / "multi30k" / "report.json")
    assert (
        multi30k["files"]["val.de"] == {"images": 299, "captions": 299 * 5}
        and multi30k["files"]["train.en"]["images"] == 0
    )  # only the val images are there; the rest is skipped and counted
    assert _load(results / "annotations" / "multi30k" / "val.en.json")[0]["image"].startswith(
        "flickr30k-images/"
    )
    assert _load(results / "annotations" / "mscoco" / "zh.report.json")["missing_images_skipped"] == 3
    assert not list((results / "annotations" / "mscoco").glob("en.test.fold*.json"))  # folds: {en: 1}
    wit = _load(results / "annotations" / "wit" / "test.report.json")
    assert (
        wit["annotation_files"][str(RAW / "iglue" / "datasets" / "wit" / "annotations" / "test_tr.jsonl")][
            "joined_annotations"
        ]
        == 721
    )
    download = _load(results / "download" / "cc3m" / "report.json")
    assert (download["count"], download["success"], download["failed_by_kind"]) == (3, 1, {"http": 2})
    # webdataset shards (download.output_format's default): the one stored image is in shard 0's tar
    shards = tmp_path / "web" / "cc3m"
    assert sorted(p.name for p in shards.iterdir()) == [f"{s:05d}{e}" for s in (0, 1) for e in SHARD_FILES]
    with tarfile.open(shards / "00000.tar") as tar0, tarfile.open(shards / "00001.tar") as tar1:
        assert (tar0.getnames(), tar1.getnames()) == (
            ["000000000.jpg", "000000000.json", "000000000.txt"],
            [],
        )
    # what the evaluation protocols read (ccrk.data.sets) takes these files as they are
    from ccrk.data.sets import ImageRoots, load_eval

    roots = ImageRoots(root=str(images))
    val_de = load_eval(str(results / "annotations" / "multi30k" / "val.de.json"), "json", roots)
    assert (val_de.n_images, val_de.n_texts) == (299, 299 * 5)
    assert val_de.image_paths[0] == str(
        images / "flickr30k-images" / read_lines(M30K / "task1" / "image_splits" / "val.txt")[0]
    )
    wit_tr = load_eval(str(results / "annotations" / "wit" / "test_tr.jsonl"), "wit", roots)
    assert (wit_tr.n_images, wit_tr.n_texts) == (681, 721)


@pytest.mark.parametrize("folds", [5, 3])
def test_fold_files_hold_the_images_evaluation_ranks_together(tmp_path, tiny_model, tiny_tokenizer, folds):
    """One fold logic: `{lang}.test.fold{k}.json` holds exactly the images that evaluation, folding the whole test
    file in memory with the same count (`protocols.mscoco.folds`), ranks in fold k."""
    import torch

    from ccrk.config import EvalConfig
    from ccrk.data.sets import ImageRoots, load_eval
    from ccrk.evaluate import rank_in_folds
    from ccrk.formats.caption_json import ImageCaptions
    from ccrk.formats.mscoco import write_mscoco
    from ccrk.retrieval import Features, encode_texts

    items = [
        ImageCaptions(f"coco/val2014/COCO_val2014_{i:012d}.jpg", i, [f"a photo {i}", f"picture {i}"])
        for i in range(1, 13)
    ]
    report = write_mscoco("en", {"test": items}, tmp_path, folds=folds)
    roots = ImageRoots(root=str(tmp_path / "images"))
    data = load_eval(tmp_path / "en.test.json", "json", roots)
    with torch.no_grad():
        images = tiny_model.encode_image(torch.randn(len(data.image_paths), 3, 32, 32))
    img = Features(images.tokens, None, images.feat)
    txt = encode_texts(tiny_model, tiny_tokenizer, data.texts, 8, 16, 16, "cpu")
    *_, fold_of = rank_in_folds(tiny_model, img, txt, data.txt2img, data.img2txt, folds, EvalConfig(k_test=2))
    for k in range(folds):
        in_file = load_eval(tmp_path / f"en.test.fold{k}.json", "json", roots).image_paths
        assert in_file == [p for p, f in zip(data.image_paths, fold_of) if f == k], k
        assert report["files"][f"en.test.fold{k}"]["images"] == len(in_file)
    assert not (tmp_path / f"en.test.fold{folds}.json").exists()
