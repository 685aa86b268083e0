"""Corpus builder: translations merged by line, items missing a language dropped and counted."""

import json

import pytest

from ccrk.data.corpus import build_corpus
from ccrk.data.pretrain_dataset import read_corpus
from ccrk.errors import DataError
from ccrk.io import write_jsonl


def test_merge_split_and_report(tmp_path):
    given = tmp_path / "given.jsonl"
    write_jsonl(
        given,
        [
            {"caption": {"en": "a", "zh": "甲"}, "image_path": "0.jpg"},
            {"caption": {"en": "b", "zh": "乙"}, "image_path": "1.jpg"},
            {"caption": {"en": "c", "zh": ""}, "image_path": "2.jpg"},  # empty zh: dropped
            {"caption": {"en": "d", "zh": "丁"}, "image_path": "3.jpg"},
        ],
    )
    shard = tmp_path / "t.jsonl"
    write_jsonl(
        shard,
        [
            {"line": 1, "translations": {"es": "A"}},
            {"line": 2, "translations": {"es": "B"}},
            {"line": 3, "translations": {"es": "C"}},
            {"line": 4, "translations": {"es": ""}},
        ],
    )
    parts = [tmp_path / "p0.jsonl", tmp_path / "p1.jsonl"]
    report = build_corpus(given, [shard], parts, ["en", "zh", "es"], tmp_path / "r.json")
    assert report["kept"] == 2 and report["dropped"] == 2
    assert report["dropped_missing_language"] == {"en": 0, "zh": 1, "es": 1}
    items = read_corpus(parts, ["es", "zh"])
    assert sorted((i.image_path, i.captions[0], i.captions[1]) for i in items) == [
        ("0.jpg", "A", "甲"),
        ("1.jpg", "B", "乙"),
    ]
    assert json.loads((tmp_path / "r.json").read_text())["kept"] == 2


def test_reader_names_file_line_and_field(tmp_path):
    path = tmp_path / "part.jsonl"
    path.write_text('{"caption": {"en": "a"}, "image_path": "x.jpg"}\n{"caption": {"en": "b"}}\n')
    with pytest.raises(DataError, match=r"part.jsonl:2: field 'image_path'"):
        read_corpus([path], ["en"])
    with pytest.raises(DataError, match=r"part.jsonl:1: field 'caption.zh'"):
        read_corpus([path], ["en", "zh"])
    path.write_text('{"caption": {"en": "a"}, "image_path": "x.jpg"\n')
    with pytest.raises(DataError, match=r"part.jsonl:1: invalid JSON"):
        read_corpus([path], ["en"])
