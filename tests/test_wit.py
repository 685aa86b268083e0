"""WIT pixel join on the real IGLUE annotation files, with pixel CSVs built from generated images."""

import base64
import gzip
import hashlib
import io
import json

import pytest
from PIL import Image

from ccrk.errors import DataError
from ccrk.formats.wit_pixels import join_wit
from ccrk.io import iter_jsonl
from tests.conftest import FIXTURES

WIT = FIXTURES / "iglue" / "datasets" / "wit" / "annotations"
LANGS = ("en", "id", "ja", "tr")
SIZES = {"en": (1000, 685), "id": (901, 854), "ja": (1000, 842), "tr": (721, 681)}  # SOURCE.md: lines, images


def _colour(url: str) -> tuple[int, int, int]:
    return tuple(hashlib.sha256(url.encode()).digest()[:3])


def _b64_png(url: str) -> str:
    out = io.BytesIO()
    Image.new("RGB", (6, 4), _colour(url)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def _urls(lang):
    return [obj["image_url"] for _, obj in iter_jsonl(WIT / f"test_{lang}.jsonl")]


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    """Pixels for every image but every 7th distinct URL of each file, spread over a plain and a gzipped CSV."""
    tmp = tmp_path_factory.mktemp("wit")
    idx98 = {o["image_url"] for _, o in iter_jsonl(WIT / "test_en.jsonl") if o["image_idx"] == 98}
    left_out = set().union(*(list(dict.fromkeys(_urls(lang)))[::7] for lang in LANGS)) - idx98
    present = sorted({u for lang in LANGS for u in _urls(lang)} - left_out)
    absent = {lang: set(_urls(lang)) & left_out for lang in LANGS}  # a URL can be in several languages' files
    rows = [f"{u}\t{_b64_png(u)}\thttp://meta/{i}\n" for i, u in enumerate(present)]
    half = len(rows) // 2
    first, second = tmp / "pixels-0.csv", tmp / "pixels-1.csv.gz"
    bad_url = present[half + 1]  # in the second file: a broken row first, a good one after it
    first.write_text(
        "image_url\tb64_bytes\tmetadata_url\n"
        + "".join(rows[:half])
        + f"{bad_url}\tnot-base64!!\n"
        + "https://unrelated.example/x.jpg\tAAAA\n",
        encoding="utf-8",
    )
    with gzip.open(second, "wt", encoding="utf-8") as f:
        f.write(f"{present[0]}\t{_b64_png('another image')}\n")  # a duplicate: the first pixels win
        f.writelines(rows[half:])
    outs = [tmp / f"test_{lang}.jsonl" for lang in LANGS]
    report = join_wit(
        [WIT / f"test_{lang}.jsonl" for lang in LANGS], [first, second], outs, tmp / "report.json"
    )
    return tmp, absent, report


def test_every_annotation_is_counted_per_file(joined):
    tmp, absent, report = joined
    for lang in LANGS:
        counts = report["annotation_files"][str(WIT / f"test_{lang}.jsonl")]
        urls = _urls(lang)
        missing = sum(u in absent[lang] for u in urls)
        assert (counts["annotations"], counts["images"]) == SIZES[lang]
        assert counts["annotations_without_image"] == missing > 0
        assert counts["images_without_pixels"] == len(absent[lang])
        assert counts["joined_annotations"] == len(urls) - missing
        assert counts["joined_images"] == SIZES[lang][1] - len(absent[lang])
        assert (
            len((tmp / f"test_{lang}.jsonl").read_text(encoding="utf-8").splitlines()) == len(urls) - missing
        )
    assert (
        json.loads((tmp / "report.json").read_text())["annotation_files"].keys()
        == report["annotation_files"].keys()
    )


def test_records_keep_the_annotation_and_carry_the_pixels_of_their_url(joined):
    tmp, absent, report = joined
    for lang in LANGS:
        original = [
            obj for _, obj in iter_jsonl(WIT / f"test_{lang}.jsonl") if obj["image_url"] not in absent[lang]
        ]
        out = [obj for _, obj in iter_jsonl(tmp / f"test_{lang}.jsonl")]
        assert [{k: v for k, v in o.items() if k != "image_content"} for o in out] == original
        for obj in out[::25]:
            with Image.open(io.BytesIO(base64.b64decode(obj["image_content"]))) as im:
                assert im.getpixel((0, 0)) == _colour(obj["image_url"])


def test_captions_are_grouped_by_url_not_by_image_idx(joined):
    """en image_idx 98 is two different images (SOURCE.md); each keeps its own pixels."""
    tmp, absent, _ = joined
    records = [obj for _, obj in iter_jsonl(tmp / "test_en.jsonl") if obj["image_idx"] == 98]
    urls = {obj["image_url"] for obj in records}
    assert len(urls) == 2
    assert {base64.b64decode(obj["image_content"]) for obj in records} == {
        base64.b64decode(_b64_png(u)) for u in urls
    }


def test_pixel_files_report_bad_rows_and_duplicates(joined):
    _, _, report = joined
    first, second = report["pixel_files"].values()
    assert first["bad_rows"] == 1 and "invalid base64" in first["bad_first"][0]
    assert second["bad_rows"] == 0 and first["matched"] + second["matched"] == report["wanted_images"] - len(
        set().union(*joined[1].values())
    )


def test_fail_policy_names_the_first_annotation_without_pixels(tmp_path):
    pixels = tmp_path / "p.csv"
    pixels.write_text(
        "".join(f"{u}\t{_b64_png(u)}\n" for u in dict.fromkeys(_urls("tr")[1:])), encoding="utf-8"
    )
    first = _urls("tr")[0]
    assert first not in _urls("tr")[1:]
    with pytest.raises(DataError, match=r"test_tr.jsonl:1: field 'image_url': no pixels for "):
        join_wit([WIT / "test_tr.jsonl"], [pixels], [tmp_path / "out.jsonl"], tmp_path / "r.json", "fail")
    assert not (tmp_path / "out.jsonl").exists()


def test_malformed_annotation_line_names_file_and_line(tmp_path):
    bad = tmp_path / "test_xx.jsonl"
    bad.write_text(
        '{"image_url": "u", "caption_reference_description": "c"}\n{"image_url": \n', encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"test_xx.jsonl:2: invalid JSON"):
        join_wit([bad], [], [tmp_path / "o.jsonl"], tmp_path / "r.json")


def test_zipped_annotations_and_pixel_folders(tmp_path):
    """train_en.jsonl.zip is read as published; a pixel folder stands for its *.csv and *.csv.gz files."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "test_tr.jsonl.zip", "w") as z:
        z.write(WIT / "test_tr.jsonl", "test_tr.jsonl")
    (tmp_path / "pixels").mkdir()
    urls = list(dict.fromkeys(_urls("tr")))
    (tmp_path / "pixels" / "a.csv").write_text("".join(f"{u}\t{_b64_png(u)}\n" for u in urls[:300]))
    with gzip.open(tmp_path / "pixels" / "b.csv.gz", "wt") as f:
        f.writelines(f"{u}\t{_b64_png(u)}\n" for u in urls[300:])
    (tmp_path / "pixels" / "notes.txt").write_text(f"{urls[0]}\tnot pixels\n")  # not a pixel file: ignored
    report = join_wit(
        [tmp_path / "test_tr.jsonl.zip"], [tmp_path / "pixels"], [tmp_path / "out.jsonl"], tmp_path / "r.json"
    )
    counts = report["annotation_files"][str(tmp_path / "test_tr.jsonl.zip")]
    assert counts["joined_annotations"] == 721 and counts["annotations_without_image"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.jsonl",
        "pixels",
        "r.json",
        "test_tr.jsonl.zip",
    ]
