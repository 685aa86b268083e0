"""Readers of the protocols' data: IGLUE few-shot and WIT files (real fixtures), Multi30K/MSCOCO JSON, merging."""

import base64
import io
import json

import pytest
from PIL import Image

from ccrk.data.sets import ImageRoots, load_eval, load_train
from ccrk.errors import DataError
from ccrk.formats.iglue import image_key, load_eval_set, read_iglue
from ccrk.formats.retrieval_json import load_json_eval_set, load_json_train_set
from ccrk.formats.wit import load_wit_eval_set, load_wit_train_set, read_wit
from tests.conftest import FIXTURES

IGLUE = FIXTURES / "iglue" / "datasets"
WIT = IGLUE / "wit" / "annotations"
FEWSHOT_LANGS = ["de", "es", "id", "ja", "ru", "tr", "zh"]


def test_fewshot_100_shots_per_language_on_the_real_files():
    test_keys = {image_key(r) for r in read_iglue(IGLUE / "xFlickrCO" / "annotations" / "de" / "test.jsonl")}
    valid_keys = {image_key(r) for r in read_iglue(IGLUE / "flickr30k" / "annotations" / "valid_ann.jsonl")}
    image_sets = []
    for lang in FEWSHOT_LANGS:
        items = load_train(
            [str(IGLUE / "xFlickrCO" / "annotations" / lang / "train_100.jsonl")],
            "iglue",
            ImageRoots(flickr="/f", coco="/c"),
        )
        assert len(items) == 100 and len({i.image_idx for i in items}) == 100  # one caption per image
        assert all(i.image_path.startswith("/f/") for i in items)  # all Flickr30K
        keys = {
            image_key(r) for r in read_iglue(IGLUE / "xFlickrCO" / "annotations" / lang / "train_100.jsonl")
        }
        assert not keys & test_keys and not keys & valid_keys  # never a test or validation image
        small = {
            image_key(r) for r in read_iglue(IGLUE / "xFlickrCO" / "annotations" / lang / "train_25.jsonl")
        }
        assert small < keys  # train_25 is a subset (not always a prefix) of train_100
        image_sets.append(keys)
    assert all(s == image_sets[0] for s in image_sets)  # the same 100 images in every language


@pytest.mark.parametrize(
    "lang, lines, images, texts",
    [("en", 1000, 685, 1000), ("id", 901, 854, 900), ("ja", 1000, 842, 1000), ("tr", 721, 681, 721)],
)
def test_wit_groups_captions_by_image_url_on_the_real_files(tmp_path, lang, lines, images, texts):
    records = read_wit(WIT / f"test_{lang}.jsonl")
    assert len(records) == lines and all(r.language == lang and r.image is None for r in records)
    joined = tmp_path / "joined.jsonl"  # what the WIT pixel join writes: the same lines plus image_content
    pixels = _png_b64()
    with (
        open(WIT / f"test_{lang}.jsonl", encoding="utf-8") as src,
        open(joined, "w", encoding="utf-8") as out,
    ):
        for line in src:
            out.write(json.dumps({**json.loads(line), "image_content": pixels}, ensure_ascii=False) + "\n")
    data = load_eval(str(joined), "wit", ImageRoots())
    assert (data.n_images, data.n_texts) == (images, texts)
    assert all(isinstance(p, bytes) and p.startswith(b"\x89PNG") for p in data.image_paths)
    # image_idx is not unique (en: 98 names two images); image_url is the key
    urls = [k[1] for k in data.image_keys]
    assert len(set(urls)) == images
    if lang == "en":
        idx98 = {
            r.image_url
            for r in records
            if json.loads(_line(WIT / "test_en.jsonl", r.line))["image_idx"] == 98
        }
        assert len(idx98) == 2 and idx98 <= set(urls)
    if lang == "id":  # line 797 is a lone no-break space: not a query, its image stays
        assert data.dropped == [
            (797, "caption 0: empty caption '\\xa0' after strip() and punctuation removal")
        ]
    for img, text_ids in enumerate(data.img2txt):
        assert all(data.txt2img[t] == img for t in text_ids)


def _line(path, n):
    with open(path, encoding="utf-8") as f:
        return f.readlines()[n - 1]


def _png_b64(color=(0, 128, 255)):
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_wit_needs_pixels_and_names_bad_ones(tmp_path):
    with pytest.raises(DataError, match=r"test_tr.jsonl:1: field 'image_content': no pixels"):
        load_wit_eval_set(WIT / "test_tr.jsonl")
    bad = tmp_path / "bad.jsonl"
    line = json.loads(_line(WIT / "test_tr.jsonl", 1))
    bad.write_text(json.dumps({**line, "image_content": "not base64!"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: field 'image_content': expected base64"):
        read_wit(bad)
    bad.write_text(json.dumps({k: v for k, v in line.items() if k != "caption_reference_description"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: field 'caption_reference_description'"):
        read_wit(bad)
    bad.write_text(json.dumps({**line, "image_path": "../../etc/passwd"}) + "\n")
    with pytest.raises(DataError, match="escapes the image root"):
        read_wit(bad, image_root=tmp_path)


def test_wit_train_set_shares_idx_per_image(tmp_path):
    joined = tmp_path / "train_en.jsonl"
    with open(WIT / "test_en.jsonl", encoding="utf-8") as src, open(joined, "w", encoding="utf-8") as out:
        for line in list(src)[:30]:
            out.write(json.dumps({**json.loads(line), "image_content": _png_b64()}) + "\n")
    items, dropped = load_wit_train_set(joined)
    by_url = {}
    for item, rec in zip(items, read_wit(joined)):
        by_url.setdefault(rec.image_url, set()).add(item.image_idx)
    assert len(items) == 30 and not dropped and all(len(v) == 1 for v in by_url.values())
    assert len({i.image_idx for i in items}) == len(by_url)


def _write(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False))
    return path


def test_spec_54_json_eval_and_train(tmp_path):
    test = _write(
        tmp_path / "test_2016_flickr.de.json",
        [
            {"image": "flickr30k-images/1.jpg", "caption": ["ein hund", "zwei hunde"], "image_id": 1},
            {"image": "flickr30k-images/2.jpg", "caption": ["eine katze", "  "], "image_id": 2},
        ],
    )
    data = load_json_eval_set(test, tmp_path)
    assert data.image_paths == [
        str(tmp_path / "flickr30k-images" / "1.jpg"),
        str(tmp_path / "flickr30k-images/2.jpg"),
    ]
    assert data.texts == ["ein hund", "zwei hunde", "eine katze"] and data.img2txt == [[0, 1], [2]]
    assert data.dropped == [(1, "caption 1: empty caption '  ' after strip() and punctuation removal")]
    train_en = _write(
        tmp_path / "train.en.json",
        [
            {"caption": "a dog", "image": "flickr30k-images/1.jpg", "image_id": 1},
            {"caption": "a cat", "image": "flickr30k-images/2.jpg", "image_id": 2},
        ],
    )
    train_de = _write(
        tmp_path / "train.de.json",
        [{"caption": "eine katze", "image": "flickr30k-images/2.jpg", "image_id": 2}],
    )
    items, _ = load_json_train_set(train_en, tmp_path)
    assert [(i.caption, i.image_idx) for i in items] == [("a dog", 0), ("a cat", 1)]
    merged = load_train([str(train_en), str(train_de)], "json", ImageRoots(root=str(tmp_path)))
    # the same image in two languages keeps one idx: same-image captions are ITC positives (CCLM's image_id)
    assert [(i.caption, i.image_idx) for i in merged] == [("a dog", 0), ("a cat", 1), ("eine katze", 1)]


@pytest.mark.parametrize(
    "content, where",
    [
        ({"image": "a.jpg", "caption": "x"}, "expected a JSON list"),
        ([{"image": "a.jpg"}], "record 0: field 'caption': missing"),
        ([{"image": "a.jpg", "caption": "x"}, {"image": 5, "caption": "y"}], "record 1: field 'image'"),
        ([{"image": "../a.jpg", "caption": "x"}], "record 0: field 'image': image path '../a.jpg' escapes"),
    ],
)
def test_spec_54_json_errors_name_file_record_field(tmp_path, content, where):
    path = _write(tmp_path / "en.train.json", content)
    with pytest.raises(DataError, match=where):
        load_json_train_set(path, tmp_path)


def test_unknown_format_is_rejected():
    with pytest.raises(ValueError, match="unknown annotation format 'csv'"):
        load_eval("x", "csv", ImageRoots())


def test_iglue_format_still_reads_xflickrco(tmp_path):
    path = IGLUE / "xFlickrCO" / "annotations" / "de" / "test.jsonl"
    a = load_eval(str(path), "iglue", ImageRoots(flickr="/f", coco="/c"))
    b = load_eval_set(path, "/f", "/c")
    assert a.image_paths == b.image_paths and a.texts == b.texts and a.n_images == 2000
