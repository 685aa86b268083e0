"""Bad bytes, byte-order marks and wrong JSON structure in every input file: the real fixtures, altered."""

import base64
import gzip
import io
import json
import re

import pytest
from PIL import Image

from ccrk.download.urls import read_url_list
from ccrk.errors import DataError
from ccrk.formats.iglue import read_iglue
from ccrk.formats.mscoco import read_coco_cn, read_karpathy, read_yjcaptions
from ccrk.formats.multi30k import read_lines
from ccrk.formats.retrieval_json import load_json_eval_set
from ccrk.formats.wit import read_wit
from ccrk.formats.wit_pixels import join_wit
from ccrk.io import iter_jsonl, read_json
from tests.conftest import FIXTURES

BOM = b"\xef\xbb\xbf"
CC3M = FIXTURES / "cc3m" / "Validation_GCC-1.1.0-Validation.tsv"
IGLUE = FIXTURES / "iglue" / "datasets" / "xFlickrCO" / "annotations" / "de" / "test.jsonl"
WIT = FIXTURES / "iglue" / "datasets" / "wit" / "annotations" / "test_tr.jsonl"
KARPATHY = FIXTURES / "karpathy" / "dataset_coco.sample.json"
COCO_CN = FIXTURES / "coco-cn" / "data" / "coco-cn_ext.icap2020.txt"
SPLIT = FIXTURES / "multi30k" / "data" / "task1" / "image_splits" / "val.txt"


def _copy(tmp_path, source, name=None, bom=False, bad_line=None) -> object:
    """`source` copied, with a byte-order mark and/or the byte 0xff put into line `bad_line` (1-based)."""
    lines = source.read_bytes().split(b"\n")
    if bad_line is not None:
        lines[bad_line - 1] = lines[bad_line - 1][:5] + b"\xff" + lines[bad_line - 1][5:]
    path = tmp_path / (name or source.name)
    path.write_bytes((BOM if bom else b"") + b"\n".join(lines))
    return path


@pytest.mark.parametrize(
    ("source", "read"),
    [
        (CC3M, lambda p: [(r.key, r.url, r.caption) for r in read_url_list(p, "tsv")]),
        (IGLUE, lambda p: [(r.id, r.img_path, r.sentences) for r in read_iglue(p)]),
        (WIT, lambda p: [(r.image_url, r.caption) for r in read_wit(p)]),
        (SPLIT, read_lines),
    ],
    ids=["cc3m-tsv", "iglue-jsonl", "wit-jsonl", "multi30k-lines"],
)
def test_a_byte_order_mark_is_dropped_and_bad_bytes_name_file_and_line(tmp_path, source, read):
    assert read(_copy(tmp_path, source, bom=True)) == read(source)
    bad = _copy(tmp_path, source, "bad" + source.suffix, bad_line=3)
    with pytest.raises(
        DataError, match=rf"bad{source.suffix}:3: invalid UTF-8: byte 0xff at byte 6 of the line"
    ):
        read(bad)


def test_coco_cn_captions_and_split_lists(tmp_path):
    names = list(
        dict.fromkeys(line.split("#")[0] for line in COCO_CN.read_text(encoding="utf-8").splitlines())
    )
    split = tmp_path / "test.txt"
    split.write_bytes(BOM + "\n".join(names).encode())
    expected = read_coco_cn([COCO_CN], {"test": split})
    assert len(expected[0]["test"]) == len(names)
    assert read_coco_cn([_copy(tmp_path, COCO_CN, bom=True)], {"test": split}) == expected
    with pytest.raises(DataError, match=r"bad.txt:4: invalid UTF-8"):
        read_coco_cn([_copy(tmp_path, COCO_CN, "bad.txt", bad_line=4)], {"test": split})


def test_url_list_and_captions_files(tmp_path):
    urls = tmp_path / "sbu.txt"
    urls.write_bytes(BOM + b"http://x/1.jpg\nhttp://x/2.jpg\n")
    (tmp_path / "captions.txt").write_bytes(BOM + b"one\ntw\xc3o\n")  # a cut-off two-byte character
    with pytest.raises(DataError, match=r"captions.txt:2: invalid UTF-8: byte 0xc3 at byte 3"):
        read_url_list(urls, "urls", tmp_path / "captions.txt")
    (tmp_path / "captions.txt").write_bytes(BOM + b"one\ntwo\n")
    rows = read_url_list(urls, "urls", tmp_path / "captions.txt")
    assert [(r.url, r.caption) for r in rows] == [("http://x/1.jpg", "one"), ("http://x/2.jpg", "two")]


def test_jsonl_and_json_readers(tmp_path):
    path = tmp_path / "given.jsonl"
    path.write_bytes(BOM + b'{"a": 1}\n\n{"a": "\xe2\x82"}\n')
    with pytest.raises(DataError, match=r"given.jsonl:3: invalid UTF-8: byte 0xe2 at byte 8"):
        list(iter_jsonl(path))
    path.write_bytes(BOM + b'{"a": 1}\n')
    assert list(iter_jsonl(path)) == [(1, {"a": 1})]
    path = tmp_path / "x.json"
    path.write_bytes(BOM + b'{\n "a": [1,\n  "\xff"]}\n')
    with pytest.raises(DataError, match=r"x.json:3: invalid UTF-8: byte 0xff at byte 4"):
        read_json(path)
    gz = tmp_path / "broken.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-30])
    with pytest.raises(DataError, match="broken.jsonl.gz: corrupt gzip data"):
        list(iter_jsonl(gz))


def test_coco_json_with_a_bom_and_wrong_structure_names_file_and_field(tmp_path):
    data = {
        "images": [{"id": 9, "file_name": "COCO_val2014_000000000009.jpg", "coco_url": "http://x/9.jpg"}],
        "annotations": [{"image_id": 9, "id": 1, "caption": "ein Hund"}],
    }
    path = tmp_path / "captions.json"
    path.write_bytes(BOM + json.dumps(data).encode())
    assert [(r.key, r.caption) for r in read_url_list(path, "coco")] == [
        ("COCO_val2014_000000000009", "ein Hund")
    ]
    assert read_yjcaptions(path)[0][0].captions == ["ein Hund"]
    for annotations, field in ((None, "annotations"), (["a caption"], "annotations[0]")):
        path.write_text(json.dumps({**data, "annotations": annotations}))
        with pytest.raises(DataError, match=re.escape(f"captions.json: field '{field}': expected")):
            read_url_list(path, "coco")
        with pytest.raises(DataError, match=r"captions.json: field 'annotations"):
            read_yjcaptions(path)
    path.write_text(json.dumps({**data, "images": [{"id": 9, "file_name": 9}]}))
    with pytest.raises(DataError, match=r"captions.json: field 'images\[0\].file_name'"):
        read_yjcaptions(path)
    karpathy = tmp_path / "dataset_coco.json"
    karpathy.write_bytes(BOM + KARPATHY.read_bytes())
    splits = [read_karpathy(karpathy), read_karpathy(KARPATHY)]
    assert [[(it.image, it.captions) for s in split.values() for it in s] for split in splits] == 2 * [
        [(it.image, it.captions) for s in splits[1].values() for it in s]
    ]


def test_retrieval_json_with_a_bom(tmp_path):
    path = tmp_path / "val.de.json"
    path.write_bytes(BOM + json.dumps([{"image": "a.jpg", "caption": ["ein Hund"], "image_id": 1}]).encode())
    assert load_json_eval_set(path, tmp_path).texts == ["ein Hund"]


def test_one_bad_pixel_row_is_counted_not_fatal(tmp_path):
    urls = list(dict.fromkeys(obj["image_url"] for _, obj in iter_jsonl(WIT)))[:3]
    png = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(png, "PNG")
    b64 = base64.b64encode(png.getvalue())
    pixels = tmp_path / "pixels.csv"
    pixels.write_bytes(
        BOM
        + b"image_url\tb64_bytes\n"  # the header is still known as one behind the byte-order mark
        + urls[0].encode()
        + b"\t"
        + b64
        + b"\n"
        + urls[1].encode()
        + b"\xff\t"
        + b64
        + b"\n"  # a bad byte in the URL
        + urls[2].encode()
        + b"\t"
        + b64
        + b"\n"
    )
    report = join_wit([WIT], [pixels], [tmp_path / "out.jsonl"], tmp_path / "report.json")
    counts = report["pixel_files"][str(pixels)]
    assert (counts["rows"], counts["matched"], counts["bad_rows"]) == (3, 2, 1)
    assert counts["bad_first"] == [
        f"{pixels}:3: invalid UTF-8: byte 0xff at byte {len(urls[1]) + 1} of the line; expected UTF-8 text"
    ]
    assert report["annotation_files"][str(WIT)]["joined_images"] == 2


def test_training_images_open_in_web_formats_only_and_keep_their_brightness(tmp_path):
    """What training and evaluation read (ccrk.data.images): a 16-bit mid-grey PNG stays mid-grey; EPS is refused."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from ccrk.data.images import open_image

    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(grey16)
    assert open_image(grey16).getpixel((0, 0)) == (128, 128, 128)  # convert("RGB") alone would clip it
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\nshowpage\n"
    with pytest.raises(UnidentifiedImageError):
        open_image(eps)
