"""Galleries with empty captions: ccrk keeps the image as a distractor (default), the original drops it
(`evaluate.captionless_images: drop`); MRV aligns items by image key either way, on the real de / id files."""

import hashlib
import json

import pandas as pd
import pytest

from ccrk.config import EvalConfig
from ccrk.data.sets import ImageRoots, load_eval
from ccrk.evaluate import evaluate_test_files, image_key_text, write_ranks
from ccrk.models import save_checkpoint
from ccrk.tables import mrv_table
from tests.conftest import FIXTURES

XFC = FIXTURES / "iglue" / "datasets" / "xFlickrCO" / "annotations"
ROOTS = ImageRoots(flickr="/data/images/flickr30k-images", coco="/data/images/val2014")
EMPTY = {"de": (1960, ("coco", "122239")), "id": (901, None)}  # line of the empty caption, its image (de)


def _load(lang, rule):
    return load_eval(XFC / lang / "test.jsonl", "iglue", ROOTS, rule)


@pytest.mark.parametrize("lang", ["de", "id"])
def test_the_original_rule_drops_the_image_of_an_empty_caption(lang):
    keep, drop = _load(lang, "keep"), _load(lang, "drop")
    line, key = EMPTY[lang]
    assert (keep.n_images, keep.n_texts) == (2000, 1999) and (drop.n_images, drop.n_texts) == (1999, 1999)
    gone = keep.image_keys[line - 1]  # one image per line
    assert keep.img2txt[line - 1] == [] and gone not in drop.image_keys
    assert key is None or gone == key
    assert drop.image_keys == [k for k in keep.image_keys if k != gone]
    assert drop.texts == keep.texts  # the same queries, now ranking 1999 images
    assert all(
        drop.image_keys[drop.txt2img[t]] == keep.image_keys[keep.txt2img[t]] for t in range(drop.n_texts)
    )
    assert [ln for ln, _ in drop.dropped] == [line, line]  # the caption, then its image
    assert "left out of the gallery: no caption (captionless_images: drop)" in drop.dropped[1][1]
    assert _load("en", "drop").n_images == 2000  # a language without empty captions keeps every image


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match=r"captionless_images must be one of \('keep', 'drop'\), got 'skip'"):
        _load("de", "skip")


def _rank_of(key, salt: str) -> int:
    """A made-up rank that depends on the image only: the same in every language when items align."""
    return int(hashlib.sha1(f"{salt}{key}".encode()).hexdigest(), 16) % 50


@pytest.mark.parametrize("rule", ["keep", "drop"])
def test_mrv_aligns_items_by_image_on_the_real_files(tmp_path, rule):
    """en, de, id, ja: the de and id items without a caption are left out and counted, the rest align by image.
    Aligned by row, as the original's MRV loop does, every item after de's line 1960 would pair two images."""
    files = {}
    for lang in ("en", "de", "id", "ja"):
        data = _load(lang, rule)
        ir = [_rank_of(data.image_keys[data.txt2img[t]], "ir") for t in range(data.n_texts)]
        tr = [_rank_of(k, "tr") if texts else -1 for k, texts in zip(data.image_keys, data.img2txt)]
        files[lang] = tmp_path / f"{lang}_ranks.csv"
        write_ranks(files[lang], ir, tr, data.img2txt, image_keys=data.image_keys)
    df = mrv_table(files).set_index("direction")
    assert list(df["mrv"]) == [0.0, 0.0]  # identical per-image ranks in every language: no spread
    # keep: de's and id's captionless items have no rank; drop: no row; 2 left out either way
    assert list(df["items"]) == [1998, 1998] and list(df["left_out"]) == [2, 2]
    de = pd.read_csv(files["de"])
    assert ("coco:122239" in set(de["image"])) == (rule == "keep")
    assert image_key_text(("coco", "122239")) == "coco:122239"
    by_row = {lang: tmp_path / f"{lang}_by_row.csv" for lang in files}  # without the key: row alignment
    for lang, path in files.items():
        pd.read_csv(path).drop(columns="image").to_csv(by_row[lang], index=False)
    if rule == "drop":  # 2000 rows against 1999: refused rather than misaligned
        with pytest.raises(ValueError, match="different items .* no `image` column"):
            mrv_table(by_row)
    else:  # same rows: row alignment is image alignment, and gives the same MRV
        assert list(mrv_table(by_row)["mrv"]) == [0.0, 0.0]


def test_evaluation_under_the_original_rule(tmp_path, tiny_model, tiny_tokenizer, demo_dataset, monkeypatch):
    """de with an emptied caption: 1 image fewer in its ranks, encoded once with en's (a subset of the cache)."""
    import ccrk.evaluate as evaluate

    ann = demo_dataset / "iglue" / "datasets" / "xFlickrCO" / "annotations"
    lines = (ann / "de" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    lines[2] = json.dumps({**record, "sentences": [""]})
    (tmp_path / "de.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    save_checkpoint(tmp_path / "m.pt", tiny_model)
    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    calls = []
    real = evaluate.encode_images
    monkeypatch.setattr(evaluate, "encode_images", lambda *a, **k: calls.append(1) or real(*a, **k))
    roots = ImageRoots(
        flickr=str(demo_dataset / "images" / "flickr30k-images"),
        coco=str(demo_dataset / "images" / "val2014"),
    )
    outputs = {lang: (tmp_path / f"{lang}_ranks.csv", tmp_path / f"{lang}.json") for lang in ("en", "de")}
    cfg = EvalConfig(
        k_test=3, batch_size=8, fusion_batch_size=32, max_tokens=40, max_words=40, captionless_images="drop"
    )
    results = evaluate_test_files(
        tmp_path / "m.pt",
        tmp_path / "tok",
        {"en": ann / "en" / "test.jsonl", "de": tmp_path / "de.jsonl"},
        outputs,
        cfg,
        roots=roots,
    )
    n = results["en"]["n_images"]
    assert results["de"]["n_images"] == n - 1 and len(calls) == 1
    assert [d["line"] for d in results["de"]["dropped"]] == [3, 3]
    en, de = pd.read_csv(outputs["en"][0]), pd.read_csv(outputs["de"][0])
    assert len(de) == n - 1 and set(en["image"]) - set(de["image"]) == {en["image"][2]}
    mrv = mrv_table({lang: out[0] for lang, out in outputs.items()})
    assert list(mrv["items"]) == [n - 1, n - 1] and list(mrv["left_out"]) == [1, 1]
