"""The XM3600 reader on a fixture written to the published description (tests/fixtures/xm3600/SOURCE.md)."""

import json

import pytest

from ccrk.errors import DataError
from ccrk.formats.xm3600 import LOCALES, read_xm3600, xm3600_eval_sets
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "xm3600"
CAPTIONS = FIXTURE / "captions.jsonl"
IMAGES = FIXTURE / "images"


def _raw_lines():
    return [json.loads(line) for line in CAPTIONS.read_text(encoding="utf-8").splitlines()]


def test_fixture_is_bom_free_utf8_with_the_oddities_of_the_real_file():
    raw = CAPTIONS.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    lines = _raw_lines()
    counts = {len(line[loc]["caption"]) for line in lines for loc in LOCALES if loc in line}
    assert counts == {1, 2, 3}
    assert any(loc not in line for line in lines for loc in LOCALES)  # an image missing a locale
    assert len(LOCALES) == 36


def test_reader_keeps_every_caption_in_file_order_and_script():
    records = read_xm3600(CAPTIONS)
    lines = _raw_lines()
    assert [r.key for r in records] == [line["image/key"] for line in lines]
    for rec, line in zip(records, lines):
        for loc in LOCALES:
            assert rec.captions.get(loc) == (line[loc]["caption"] if loc in line else None)
    assert records[0].captions["ja"][0] == "犬" and records[0].captions["th"][0] == "สุนัข"
    assert "mi" not in records[3].captions and "quz" not in records[3].captions


@pytest.mark.parametrize("protocol", ["all", "first"])
def test_eval_sets_share_one_gallery_and_follow_the_caption_protocol(protocol):
    sets, report = xm3600_eval_sets(CAPTIONS, IMAGES, LOCALES, protocol)
    lines = _raw_lines()
    keys = [line["image/key"] for line in lines]
    for loc in LOCALES:
        data = sets[loc]
        assert data.image_paths == [str(IMAGES / f"{k}.jpg") for k in keys]  # same gallery in every locale
        expected = [
            (i, c)
            for i, line in enumerate(lines)
            if loc in line
            for c in (line[loc]["caption"][:1] if protocol == "first" else line[loc]["caption"])
        ]
        assert list(zip(data.txt2img, data.texts)) == expected
        for i, texts in enumerate(data.img2txt):
            assert [data.texts[t] for t in texts] == [c for j, c in expected if j == i]
    assert sets["mi"].img2txt[3] == [] and any("no mi caption" in r for _, r in sets["mi"].dropped)
    assert report["images_without_locale"] == {"mi": 1, "quz": 1}
    assert report["caption_protocol"] == protocol and report["images"] == 4


def test_a_chosen_set_of_locales(tmp_path):
    sets, _ = xm3600_eval_sets(CAPTIONS, IMAGES, ["ar", "zh", "fil"], "all")
    assert list(sets) == ["ar", "zh", "fil"]
    with pytest.raises(ValueError, match="unknown XM3600 locale"):
        read_xm3600(CAPTIONS, ["ar", "xx"])


def _write(tmp_path, lines):
    path = tmp_path / "captions.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "line, field, problem",
    [
        ({"en": {"caption": ["a"]}}, "image/key", "non-empty string"),
        ({"image/key": 7}, "image/key", "non-empty string"),
        ({"image/key": "k", "en": ["a dog"]}, "en", "'caption' list"),
        ({"image/key": "k", "en": {"caption": [1]}}, "en.caption", "list of strings"),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path, line, field, problem):
    path = _write(tmp_path, [{"image/key": "ok", "en": {"caption": ["fine"]}}, line])
    with pytest.raises(DataError, match=problem) as e:
        read_xm3600(path)
    assert (e.value.line, e.value.field) == (2, field) and str(path) in str(e.value)


def test_duplicate_keys_and_escaping_keys_are_errors(tmp_path):
    path = _write(tmp_path, [{"image/key": "k", "en": {"caption": ["a"]}}] * 2)
    with pytest.raises(DataError, match="already on line 1"):
        read_xm3600(path)
    path = _write(tmp_path, [{"image/key": "../../etc/passwd", "en": {"caption": ["a"]}}])
    with pytest.raises(DataError, match="escapes"):
        xm3600_eval_sets(path, tmp_path, ["en"])


def test_missing_images_fail_or_drop_from_every_locale(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes((IMAGES / "000411001ff7dd4f.jpg").read_bytes())
    path = _write(
        tmp_path,
        [{"image/key": k, "en": {"caption": [f"{k} one"]}, "de": {"caption": [f"{k} zwei"]}} for k in "ab"],
    )
    with pytest.raises(DataError, match="not found"):
        xm3600_eval_sets(path, tmp_path / "images", ["en", "de"])
    sets, report = xm3600_eval_sets(path, tmp_path / "images", ["en", "de"], missing_images="skip")
    assert [s.texts for s in sets.values()] == [["a one"], ["a zwei"]]
    assert report["missing_images_skipped"] == 1
