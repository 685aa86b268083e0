"""The demo dataset: real IGLUE formats, cross-language alignment, determinism, drawing, lexicon coverage."""

import io
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccrk.demo import (
    CELLS,
    COLOURS,
    SHAPES,
    Scene,
    SceneObject,
    describe,
    draw_scene,
    lexicon_entries,
    sample_scene,
    write_demo_dataset,
)
from ccrk.demo.scenes import BACKGROUND, RGB, cell_box
from ccrk.demo.vocabulary import LANGUAGES, VOCAB

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "iglue" / "datasets"
TEST_LANGS = ("de", "en", "es", "id", "ja", "ru", "tr", "zh")
GIVEN_LANGS = ("en", "zh", "ja", "de", "fr", "cs")
FEWSHOT = [1, 5, 10]
ARGS = dict(seed=3, image_size=48, n_pretrain=20, n_train=12, n_valid=6, n_test=10, fewshot_sizes=FEWSHOT)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _line(path: Path, n: int) -> dict:
    """1-based line n of a JSONL file."""
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, start=1):
            if i == n:
                return json.loads(line)
    raise AssertionError(f"{path} has fewer than {n} lines")


def _shape(record: dict) -> list[tuple[str, str]]:
    """Key order and value types of a record (what the readers depend on)."""
    return [(k, type(v).__name__) for k, v in record.items()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    counts = write_demo_dataset(out, **ARGS)
    return out, counts


def _ann(out: Path, *parts: str) -> Path:
    return out / "iglue" / "datasets" / Path(*parts)


def test_counts_and_files(demo):
    out, counts = demo
    assert (counts["pretrain"], counts["train"], counts["valid"], counts["test"]) == (20, 12, 6, 10)
    assert counts["images"] == 20 + 12 + 6 + 10 + max(FEWSHOT)
    assert len(list((out / "images").rglob("*.jpg"))) == counts["images"]
    assert not list(out.rglob("*.tmp")), "atomic writes left temporary files behind"


def test_xflickrco_test_format_matches_real_file(demo):
    out, _ = demo
    real = FIXTURES / "xFlickrCO" / "annotations" / "de" / "test.jsonl"
    real_flickr, real_coco = _line(real, 1), _line(real, 1001)
    ours_path = _ann(out, "xFlickrCO", "annotations", "de", "test.jsonl")
    ours = _lines(ours_path)
    flickr_shape = [("sentences", "list"), ("id", "str"), ("img_path", "str")]
    coco_shape = [("sentences", "list"), ("id", "int"), ("img_path", "str")]
    assert _shape(ours[0]) == _shape(real_flickr) == flickr_shape
    assert _shape(ours[-1]) == _shape(real_coco) == coco_shape
    assert re.fullmatch(r"COCO_val2014_\d{12}\.jpg", real_coco["img_path"])
    # the raw bytes look alike too: compact separators, raw UTF-8
    raw = ours_path.read_text(encoding="utf-8").splitlines()[0]
    assert raw.startswith('{"sentences": ["') and "\\u" not in raw


def test_flickr30k_format_matches_real_file(demo):
    out, _ = demo
    real = FIXTURES / "flickr30k" / "annotations" / "valid_ann.jsonl"
    real_rec = _line(real, 1)
    for split, n in (("train", 12), ("valid", 6), ("test", 5)):
        records = _lines(_ann(out, "flickr30k", "annotations", f"{split}_ann.jsonl"))
        assert len(records) == n
        for rec in records:
            assert _shape(rec) == _shape(real_rec)
            assert len(rec["sentences"]) == len(real_rec["sentences"]) == 5
            assert all(isinstance(s, str) and s for s in rec["sentences"])
            assert re.fullmatch(r"[1-9]\d{7,9}", rec["id"]) and rec["img_path"] == f"{rec['id']}.jpg"
            assert (out / "images" / "flickr30k-images" / rec["img_path"]).is_file()
        ids = [r["id"] for r in records]
        assert ids == sorted(ids), "lines are sorted by id as a string, like the real files"


def test_multi_object_images_get_distinct_captions(demo):
    out, _ = demo
    records = _lines(_ann(out, "flickr30k", "annotations", "train_ann.jsonl"))
    multi = [r for r in records if " and " in r["sentences"][0]]
    assert multi and all(len(set(r["sentences"])) == 5 for r in multi)


def test_test_files_aligned_across_languages_with_mixed_ids(demo):
    out, _ = demo
    files = {lang: _lines(_ann(out, "xFlickrCO", "annotations", lang, "test.jsonl")) for lang in TEST_LANGS}
    keys = [(r["id"], r["img_path"]) for r in files["en"]]
    assert len(keys) == 10
    for lang, records in files.items():
        assert [(r["id"], r["img_path"]) for r in records] == keys, lang
        assert all(len(r["sentences"]) == 1 and r["sentences"][0] for r in records), lang
    flickr, coco = keys[:5], keys[5:]
    assert all(isinstance(i, str) and p == f"{i}.jpg" for i, p in flickr)
    assert [i for i, _ in flickr] == sorted(i for i, _ in flickr)
    assert all(isinstance(i, int) and p == f"COCO_val2014_{i:012d}.jpg" for i, p in coco)
    for _, path in coco:
        assert (out / "images" / "val2014" / path).is_file()
    # the same image is captioned differently in every language
    for n in range(len(keys)):
        assert len({files[lang][n]["sentences"][0] for lang in TEST_LANGS}) == len(TEST_LANGS)
    # as in the real data, the English Flickr caption is the first Flickr30K test caption
    test_ann = _lines(_ann(out, "flickr30k", "annotations", "test_ann.jsonl"))
    test_ann = {r["id"]: r["sentences"] for r in test_ann}
    assert [i for i, _ in flickr] == sorted(test_ann)
    assert all(r["sentences"][0] == test_ann[r["id"]][0] for r in files["en"][:5])


def test_fewshot_files_are_nested_and_shared_across_languages(demo):
    out, _ = demo
    used = set()
    for split in ("train", "valid", "test"):
        used |= {r["id"] for r in _lines(_ann(out, "flickr30k", "annotations", f"{split}_ann.jsonl"))}
    assert not _ann(out, "xFlickrCO", "annotations", "en", "train_1.jsonl").exists()
    previous: set | None = None
    for n in FEWSHOT:
        per_lang = {}
        for lang in (lang for lang in TEST_LANGS if lang != "en"):
            records = _lines(_ann(out, "xFlickrCO", "annotations", lang, f"train_{n}.jsonl"))
            assert len(records) == n and all(len(r["sentences"]) == 1 for r in records)
            assert all(isinstance(r["id"], str) and r["img_path"] == f"{r['id']}.jpg" for r in records)
            per_lang[lang] = [r["id"] for r in records]
        ids = set(per_lang["de"])
        assert all(set(v) == ids for v in per_lang.values()), "same images in every language"
        assert not ids & used, "few-shot images are not in train/valid/test"
        assert previous is None or previous <= ids, "a smaller few-shot file is a subset of a bigger one"
        previous = ids


def test_pretrain_given_corpus(demo):
    out, _ = demo
    records = _lines(out / "pretrain" / "given.jsonl")
    assert len(records) == 20
    for i, rec in enumerate(records):
        assert list(rec) == ["caption", "image_path"]
        assert list(rec["caption"]) == list(GIVEN_LANGS)
        assert len(set(rec["caption"].values())) == len(GIVEN_LANGS)
        assert rec["image_path"] == f"cc3m/{i:06d}.jpg"
        with Image.open(out / "images" / rec["image_path"]) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (48, 48)


def test_lexicon_tsv(demo):
    out, _ = demo
    lines = (out / "lexicon.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "en\tid\tes\tru\ttr"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == 5 for row in rows)
    assert [row[0] for row in rows] == [e["en"] for e in lexicon_entries()]


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_demo_dataset(a, **ARGS)
    write_demo_dataset(b, **ARGS)
    write_demo_dataset(c, **{**ARGS, "seed": ARGS["seed"] + 1})
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    given = Path("pretrain") / "given.jsonl"
    assert (a / given).read_bytes() != (c / given).read_bytes()


def _mean_rgb(image: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return np.asarray(image, dtype=np.float64)[y0:y1, x0:x1].reshape(-1, 3).mean(0)


def _centre_box(cell: str, size: int, frac: float = 0.08) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = cell_box(cell, size)
    cx, cy, h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * frac
    return cx - h, cy - h, cx + h, cy + h


def test_drawn_pixels_follow_the_scene():
    scene = Scene((SceneObject("circle", "red", "large", "top left"),))
    image = draw_scene(scene, 96, random.Random(0))
    red = _mean_rgb(image, _centre_box("top left", 96))
    assert red[0] > 180 and red[1] < 60 and red[2] < 60
    for cell in CELLS[1:]:  # every empty cell is plain background
        assert np.allclose(_mean_rgb(image, cell_box(cell, 96)), BACKGROUND)
    # after JPEG encoding too, as the dataset stores it
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=95)
    decoded = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    assert np.abs(_mean_rgb(decoded, _centre_box("top left", 96)) - RGB["red"]).max() < 25
    assert np.abs(_mean_rgb(decoded, _centre_box("bottom right", 96)) - BACKGROUND).max() < 5


@pytest.mark.parametrize("size", ["small", "large"])
def test_every_shape_and_colour_is_drawn_at_its_cell(size):
    rng = random.Random(1)
    for shape in SHAPES:
        for colour in COLOURS:
            cell = rng.choice(CELLS)
            image = draw_scene(Scene((SceneObject(shape, colour, size, cell),)), 90, rng)
            centre = _mean_rgb(image, _centre_box(cell, 90, 0.04))
            assert np.abs(centre - RGB[colour]).max() <= 10, (shape, colour)
    a = draw_scene(Scene((SceneObject("square", "blue", size, "center"),)), 90, random.Random(1))
    b = draw_scene(Scene((SceneObject("square", "blue", size, "center"),)), 90, random.Random(2))
    assert a.tobytes() != b.tobytes(), "jitter and colour noise make same-description images differ"


def test_sample_scene_uses_distinct_cells():
    rng = random.Random(0)
    scenes = [sample_scene(rng) for _ in range(300)]
    assert {len(s.objects) for s in scenes} == {1, 2, 3}
    assert all(len({o.cell for o in s.objects}) == len(s.objects) for s in scenes)


def test_describe_is_deterministic_and_varied():
    scene = Scene(
        (
            SceneObject("circle", "red", "large", "top left"),
            SceneObject("cross", "blue", "small", "center"),
            SceneObject("square", "white", "large", "bottom"),
        )
    )
    for lang in LANGUAGES:
        assert describe(scene, lang, random.Random(5)) == describe(scene, lang, random.Random(5))
        assert len({describe(scene, lang, random.Random(s)) for s in range(30)}) >= 10, lang
    variants = {describe(scene, "en", random.Random(0), variant=k) for k in range(3)}
    assert len(variants) == 3
    with pytest.raises(ValueError):
        describe(scene, "xx", random.Random(0))


def test_captions_per_language_nonempty_distinct_and_script():
    rng = random.Random(0)
    ascii_letter = re.compile(r"[A-Za-z]")
    for _ in range(200):
        scene = sample_scene(rng)
        seed = rng.random()
        captions = {lang: describe(scene, lang, random.Random(seed)) for lang in LANGUAGES}
        assert all(c.strip() for c in captions.values())
        assert len(set(captions.values())) == len(LANGUAGES), captions
        assert not ascii_letter.search(captions["zh"]) and not ascii_letter.search(captions["ja"]), captions
        assert all(" " not in captions[lang] for lang in ("zh", "ja"))


def test_every_object_word_is_in_its_caption():
    rng = random.Random(2)
    for _ in range(100):
        scene = sample_scene(rng)
        for lang in LANGUAGES:
            caption = describe(scene, lang, random.Random(0))
            for obj in scene.objects:
                assert VOCAB[lang].shapes[obj.shape] in caption, (lang, caption)


def _uncovered(words: list[str], phrases: set[tuple[str, ...]]) -> list[str]:
    """Words left over by a greedy longest-match pass of the phrase table."""
    longest, i, left = max(map(len, phrases)), 0, []
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            if tuple(words[i : i + n]) in phrases:
                i += n
                break
        else:
            left.append(words[i])
            i += 1
    return left


def test_lexicon_covers_every_english_caption_word():
    entries = lexicon_entries()
    assert all(list(e) == ["en", "id", "es", "ru", "tr"] for e in entries)
    assert len({e["en"] for e in entries}) == len(entries)
    phrases = {tuple(e["en"].split()) for e in entries}
    rng = random.Random(0)
    for _ in range(500):
        scene = sample_scene(rng)
        for variant in range(3):
            caption = describe(scene, "en", rng, variant=variant)
            assert not _uncovered(caption.split(), phrases), caption
    # single words come as their own rows too, so a longest-match translator never falls back to English
    assert {"a", "and", "red", "circle", "large", "top", "left", "center"} <= {e["en"] for e in entries}


def test_lexicon_targets_are_the_test_caption_words():
    entries = {e["en"]: e for e in lexicon_entries()}
    scene = Scene((SceneObject("circle", "red", "large", "top left"),))
    for lang in ("id", "es", "ru", "tr"):
        caption = describe(scene, lang, random.Random(0), variant=0)
        for en in ("circle", "red", "large", "at the top left"):
            assert entries[en][lang] in caption, (lang, en, caption)


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        write_demo_dataset(tmp_path, **{**ARGS, "test_languages": ("xx",)})
    with pytest.raises(ValueError):
        write_demo_dataset(tmp_path, **{**ARGS, "n_train": -1})
