"""IGLUE readers on the real xFlickr&CO / Flickr30K fixture files, plus malformed-line errors."""

import json
from pathlib import Path

import pytest

from ccrk.errors import DataError
from ccrk.formats.iglue import image_key, load_eval_set, load_train_set, read_iglue, resolve_image

IGLUE = Path(__file__).resolve().parent / "fixtures" / "iglue" / "datasets"
XFC = IGLUE / "xFlickrCO" / "annotations"
LANGS = ["de", "en", "es", "id", "ja", "ru", "tr", "zh"]
FLICKR, COCO = Path("/data/images/flickr30k-images"), Path("/data/images/val2014")


@pytest.fixture(scope="module")
def eval_sets():
    return {lang: load_eval_set(XFC / lang / "test.jsonl", FLICKR, COCO) for lang in LANGS}


def test_xflickrco_sizes_and_dropped(eval_sets):
    for lang, es in eval_sets.items():
        assert len(es.image_paths) == 2000 == len(es.image_lines), lang
        assert es.image_lines == list(range(1, 2001)), lang
        if lang == "de":
            assert len(es.texts) == 1999
            assert [line for line, _ in es.dropped] == [1960]
            assert "empty" in es.dropped[0][1]
        elif lang == "id":
            assert len(es.texts) == 1999
            assert [line for line, _ in es.dropped] == [901]
        else:
            assert len(es.texts) == 2000 and es.dropped == [], lang
        assert len(es.txt2img) == len(es.texts) == len(es.text_lines)
        assert all(es.texts[t] for t in range(len(es.texts)))


def test_dropped_caption_keeps_its_image(eval_sets):
    de = eval_sets["de"]
    img = 1960 - 1  # one image per line, in file order
    assert de.img2txt[img] == []
    assert de.image_paths[img] == str(COCO / "COCO_val2014_000000122239.jpg")
    assert de.img2txt[img + 1] == [img]  # later texts shift by one
    assert de.text_lines[img] == 1961
    for i, texts in enumerate(de.img2txt):
        for t in texts:
            assert de.txt2img[t] == i


def test_same_images_same_order_across_languages(eval_sets):
    ref = eval_sets["en"]
    for lang, es in eval_sets.items():
        assert es.image_keys == ref.image_keys, lang
        assert es.image_paths == ref.image_paths, lang


def test_mixed_id_types_give_distinct_keys():
    recs = read_iglue(XFC / "en" / "test.jsonl")
    keys = [image_key(r) for r in recs]
    assert sum(k[0] == "flickr" for k in keys) == 1000
    assert sum(k[0] == "coco" for k in keys) == 1000
    assert len(set(keys)) == 2000
    assert all(isinstance(r.id, str) for r in recs[:1000])
    assert all(isinstance(r.id, int) for r in recs[1000:])
    r1001 = recs[1000]
    assert r1001.line == 1001 and r1001.id == 391895
    assert image_key(r1001) == ("coco", "391895")
    assert resolve_image(r1001.img_path, FLICKR, COCO) == COCO / "COCO_val2014_000000391895.jpg"
    assert image_key(recs[0]) == ("flickr", "1007129816")
    assert resolve_image(recs[0].img_path, FLICKR, COCO) == FLICKR / "1007129816.jpg"


def test_flickr30k_valid():
    es = load_eval_set(IGLUE / "flickr30k" / "annotations" / "valid_ann.jsonl", FLICKR, COCO)
    assert len(es.image_paths) == 1014
    assert len(es.texts) == 5070
    assert all(len(t) == 5 for t in es.img2txt)
    assert es.img2txt[1] == [5, 6, 7, 8, 9]
    assert es.dropped == []


def test_train_set_few_shot():
    items, dropped = load_train_set(XFC / "de" / "train_100.jsonl", FLICKR, COCO)
    assert len(items) == 100 and dropped == []
    assert [it.image_idx for it in items] == list(range(100))
    assert [it.line for it in items] == list(range(1, 101))
    assert all(it.image_path.startswith(str(FLICKR)) for it in items)


def test_train_set_merges_images_and_reports_empty(tmp_path):
    p = tmp_path / "train.jsonl"
    rows = [
        {"sentences": ["a", "b"], "id": "1", "img_path": "1.jpg"},
        {"sentences": ["  "], "id": 1, "img_path": "COCO_val2014_000000000001.jpg"},
        {"sentences": ["c"], "id": "1", "img_path": "1.jpg"},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    items, dropped = load_train_set(p, FLICKR, COCO)
    assert [(it.caption, it.image_idx, it.line) for it in items] == [("a", 0, 1), ("b", 0, 1), ("c", 0, 3)]
    assert [line for line, _ in dropped] == [2]
    es = load_eval_set(p, FLICKR, COCO)
    assert es.img2txt == [[0, 1, 2], []]  # the coco image "1" is not the flickr image "1"


def test_punctuation_only_captions_are_dropped_like_empty_ones(tmp_path):
    """ "." or "..." leave nothing after cleaning: no query (pre_caption would raise), reported, image kept."""
    p = tmp_path / "test.jsonl"
    rows = [
        {"sentences": ["."], "id": "1", "img_path": "1.jpg"},
        {"sentences": ["a dog."], "id": "2", "img_path": "2.jpg"},
        {"sentences": ["?! ..."], "id": "3", "img_path": "3.jpg"},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    es = load_eval_set(p, FLICKR, COCO)
    assert es.texts == ["a dog."] and es.img2txt == [[], [0], []]
    assert es.dropped == [
        (1, "sentences[0]: empty caption '.' after strip() and punctuation removal"),
        (3, "sentences[0]: empty caption '?! ...' after strip() and punctuation removal"),
    ]
    items, dropped = load_train_set(p, FLICKR, COCO)
    assert [it.caption for it in items] == ["a dog."] and [line for line, _ in dropped] == [1, 3]


def _broken_copy(tmp_path, line_no: int, text: str) -> Path:
    lines = (XFC / "en" / "test.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[line_no - 1] = text + "\n"
    p = tmp_path / "broken.jsonl"
    p.write_text("".join(lines), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "text, field",
    [
        ('{"sentences": "a dog", "id": "1", "img_path": "1.jpg"}', "sentences"),
        ('{"sentences": ["a", 3], "id": "1", "img_path": "1.jpg"}', "sentences"),
        ('{"sentences": ["a dog"], "id": 1.5, "img_path": "1.jpg"}', "id"),
        ('{"sentences": ["a dog"], "id": true, "img_path": "1.jpg"}', "id"),
        ('{"sentences": ["a dog"], "id": "1", "img_path": ""}', "img_path"),
        ('{"sentences": ["a dog"], "id": "1"}', "img_path"),
        ('{"sentences": ["a dog"], "id": "1", "img_path": "../../etc/passwd"}', "img_path"),
        ('{"sentences": ["a dog"], "id": "1", "img_path": "/etc/passwd"}', "img_path"),
    ],
)
def test_malformed_line_names_file_line_field(tmp_path, text, field):
    p = _broken_copy(tmp_path, 57, text)
    with pytest.raises(DataError) as exc:
        load_eval_set(p, FLICKR, COCO)
    msg = str(exc.value)
    assert "broken.jsonl" in msg and ":57:" in msg and repr(field) in msg
    assert "expected" in msg or "escapes" in msg
    assert exc.value.line == 57 and exc.value.field == field


def test_broken_json_names_file_and_line(tmp_path):
    p = _broken_copy(tmp_path, 1234, '{"sentences": ["a dog"], "id": ')
    with pytest.raises(DataError, match=r"broken\.jsonl:1234"):
        read_iglue(p)


@pytest.mark.parametrize(
    "bad", ["../../etc/passwd", "/etc/passwd", "a/../../x.jpg", "..", "COCO/../../x.jpg"]
)
def test_resolve_rejects_traversal(bad):
    with pytest.raises(ValueError):
        resolve_image(bad, FLICKR, COCO)


def test_resolve_keeps_inner_dirs():
    assert resolve_image("sub/../1.jpg", FLICKR, COCO) == FLICKR / "1.jpg"
    assert resolve_image("x/COCO_val2014_1.jpg", FLICKR, COCO) == COCO / "x" / "COCO_val2014_1.jpg"
