"""Write the synthetic demo dataset in the real IGLUE / pretraining-corpus file formats.

Layout under `out_dir`:
  images/cc3m/{i:06d}.jpg, images/flickr30k-images/{id}.jpg, images/val2014/COCO_val2014_{id:012d}.jpg
  iglue/datasets/flickr30k/annotations/{train,valid,test}_ann.jsonl   English, several captions per image
  iglue/datasets/xFlickrCO/annotations/{lang}/test.jsonl              one caption, same images everywhere
  iglue/datasets/xFlickrCO/annotations/{lang}/train_{N}.jsonl         few-shot, non-English test languages
  pretrain/given.jsonl                                                {"caption": {lang: text}, "image_path"}
  pretrain/references.jsonl                                           the same images in id/es/ru/tr (scores)
  lexicon.tsv                                                         en -> id, es, ru, tr phrase table
Every random draw comes from a string-seeded random.Random, so one seed gives byte-identical files.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ccrk.demo.captions import CaptionPlan, caption_plan, describe, lexicon_entries
from ccrk.demo.scenes import Scene, draw_scene, sample_scene
from ccrk.demo.vocabulary import LEXICON_LANGUAGES, VOCAB
from ccrk.io import atomic_open, atomic_path, write_jsonl

FLICKR_DIR = "flickr30k-images"
COCO_DIR = "val2014"
PRETRAIN_DIR = "cc3m"
JPEG_QUALITY = 95
COCO_MAX_ID = 581929  # largest COCO val2014 image id, so demo ids look like real ones
MAX_CAPTION_TRIES = 50  # redraws to find distinct captions of one image before accepting a duplicate


@dataclass(frozen=True)
class DemoImage:
    key: str  # "{split}:{index}": seeds the scene, the drawing and the captions
    id: str | int  # Flickr-like ids are digit strings, COCO-like ids are ints (as in xFlickrCO)
    img_path: str  # IGLUE img_path (file name) or pretraining image_path (relative to images/)
    scene: Scene


def _unique_flickr_ids(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    """Random 8-10 digit ids (no leading zero), unique among themselves and `taken`."""
    ids = []
    while len(ids) < n:
        digits = rng.randint(8, 10)
        id_ = str(rng.randrange(10 ** (digits - 1), 10**digits))
        if id_ not in taken:
            taken.add(id_)
            ids.append(id_)
    return ids


def _make_images(
    seed: int, split: str, ids: list, path_of: Callable[[Any], str], image_size: int, image_root: Path
) -> list[DemoImage]:
    """Sample, draw and save one image per id; path_of(id) is its path relative to image_root."""
    images = []
    for i, id_ in enumerate(ids):
        key = f"{split}:{i}"
        rng = scene_rng(seed, key)
        scene = sample_scene(rng)
        rel = path_of(id_)
        _save_jpeg(draw_scene(scene, image_size, rng), image_root / rel)
        images.append(DemoImage(key, id_, Path(rel).name if split != "pretrain" else rel, scene))
    return images


def _save_jpeg(image: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="JPEG", quality=JPEG_QUALITY)


def scene_rng(seed: int, key: str) -> random.Random:
    """The rng of image `key` ("{split}:{index}"): it samples the scene, then draws it."""
    return random.Random(f"{seed}:scene:{key}")


def caption_rng(seed: int, key: str, lang: str, tag: str) -> random.Random:
    """The rng of one caption: image `key`, language and tag ("test", or the attempt number of a training caption)."""
    return random.Random(f"{seed}:caption:{key}:{lang}:{tag}")


def _caption(seed: int, image: DemoImage, lang: str, tag: str) -> str:
    return describe(image.scene, lang, caption_rng(seed, image.key, lang, tag))


def _distinct_captions(seed: int, image: DemoImage, lang: str, n: int) -> list[str]:
    """n captions of one image, distinct where the scene allows that many (a one-object scene may not)."""
    captions: list[str] = []
    for attempt in range(n * MAX_CAPTION_TRIES):
        caption = _caption(seed, image, lang, str(attempt))
        if caption not in captions or attempt >= (n - 1) * MAX_CAPTION_TRIES:
            captions.append(caption)
        if len(captions) == n:
            break
    return captions


def _record(sentences: list[str], image: DemoImage) -> dict:
    return {"sentences": sentences, "id": image.id, "img_path": image.img_path}  # IGLUE key order


def _by_str_id(images: list[DemoImage]) -> list[DemoImage]:
    return sorted(images, key=lambda im: str(im.id))  # the real files are sorted by id as a string


def write_demo_dataset(
    out_dir,
    *,
    seed: int,
    image_size: int,
    n_pretrain: int,
    n_train: int,
    n_valid: int,
    n_test: int,
    fewshot_sizes: list[int],
    captions_per_train_image: int = 5,
    test_languages=("de", "en", "es", "id", "ja", "ru", "tr", "zh"),
    given_languages=("en", "zh", "ja", "de", "fr", "cs"),
) -> dict:
    """Write the whole demo dataset under out_dir (see the module docstring); return the counts."""
    sizes = {"n_pretrain": n_pretrain, "n_train": n_train, "n_valid": n_valid, "n_test": n_test}
    languages = (*test_languages, *given_languages)
    _check_arguments(languages, sizes, fewshot_sizes, captions_per_train_image, image_size)
    out = Path(out_dir)
    annotations = out / "iglue" / "datasets"
    images = draw_images(seed, out / "images", image_size, sizes, fewshot_sizes)
    first_en = _write_flickr30k(seed, annotations, images, captions_per_train_image)
    test_images = _write_xflickrco_test(seed, annotations, images, first_en, test_languages)
    _write_fewshot(seed, annotations, images["fewshot"], fewshot_sizes, test_languages)
    _write_pretraining(seed, out / "pretrain", images["pretrain"], given_languages)
    n_lexicon = _write_lexicon(out / "lexicon.tsv")
    return {
        "pretrain": len(images["pretrain"]),
        "train": len(images["train"]),
        "valid": len(images["valid"]),
        "test": len(test_images),
        "test_flickr": len(images["test_flickr"]),
        "test_coco": len(images["test_coco"]),
        "fewshot_pool": len(images["fewshot"]),
        "images": sum(len(ims) for ims in images.values()),
        "lexicon_rows": n_lexicon,
    }


def _check_arguments(languages, sizes: dict, fewshot_sizes, captions_per_train_image, image_size) -> None:
    for lang in languages:
        if lang not in VOCAB:
            raise ValueError(f"unknown demo language {lang!r}; expected one of {sorted(VOCAB)}")
    for name, n in sizes.items():
        if n < 0:
            raise ValueError(f"{name} must be >= 0, got {n}")
    if any(n < 1 for n in fewshot_sizes):
        raise ValueError(f"fewshot_sizes must be positive, got {fewshot_sizes}")
    if captions_per_train_image < 1:
        raise ValueError(f"captions_per_train_image must be >= 1, got {captions_per_train_image}")
    if image_size < 12:
        raise ValueError(f"image_size must be >= 12 pixels (4 per grid cell), got {image_size}")


def xflickrco_test_halves(n_test: int) -> dict[str, int]:
    """Images of the xFlickrCO test set's two halves: the Flickr one takes the odd image."""
    return {"test_flickr": (n_test + 1) // 2, "test_coco": n_test // 2}


def draw_images(
    seed: int, image_root: Path, image_size: int, sizes: dict, fewshot_sizes
) -> dict[str, list[DemoImage]]:
    """Every split's images, drawn and saved: test_flickr, test_coco, fewshot (the pool), valid, train, pretrain."""
    # ids first, in a fixed order, so the test set does not change when only the training sizes do
    id_rng = random.Random(f"{seed}:ids")
    taken: set[str] = set()
    halves = xflickrco_test_halves(sizes["n_test"])
    ids = {
        "test_flickr": _unique_flickr_ids(id_rng, halves["test_flickr"], taken),
        "fewshot": _unique_flickr_ids(id_rng, max(fewshot_sizes, default=0), taken),
        "valid": _unique_flickr_ids(id_rng, sizes["n_valid"], taken),
        "train": _unique_flickr_ids(id_rng, sizes["n_train"], taken),
    }
    # random order, like the real COCO half
    coco_ids = id_rng.sample(range(1, COCO_MAX_ID + 1), halves["test_coco"])

    flickr_path = lambda id_: f"{FLICKR_DIR}/{id_}.jpg"  # noqa: E731
    coco_path = lambda id_: f"{COCO_DIR}/COCO_val2014_{id_:012d}.jpg"  # noqa: E731
    pretrain_path = lambda i: f"{PRETRAIN_DIR}/{i:06d}.jpg"  # noqa: E731
    plan = [
        ("test_flickr", ids["test_flickr"], flickr_path),
        ("test_coco", coco_ids, coco_path),
        ("fewshot", ids["fewshot"], flickr_path),
        ("valid", ids["valid"], flickr_path),
        ("train", ids["train"], flickr_path),
        ("pretrain", list(range(sizes["n_pretrain"])), pretrain_path),
    ]
    return {split: _make_images(seed, split, i, path, image_size, image_root) for split, i, path in plan}


def _write_flickr30k(seed: int, annotations: Path, images: dict, n_captions: int) -> dict:
    """Flickr30K train/valid/test: English only, several captions per image; the first test caption per id."""
    first_en = {}
    for split, key in (("train", "train"), ("valid", "valid"), ("test", "test_flickr")):
        records = [
            _record(_distinct_captions(seed, im, "en", n_captions), im) for im in _by_str_id(images[key])
        ]
        write_jsonl(annotations / "flickr30k" / "annotations" / f"{split}_ann.jsonl", records)
        if split == "test":
            first_en = {r["id"]: r["sentences"][0] for r in records}
    return first_en


def _write_xflickrco_test(
    seed, annotations: Path, images: dict, first_en: dict, languages
) -> list[DemoImage]:
    """xFlickrCO test: Flickr half (sorted by id string), then COCO half; en reuses the first Flickr30K caption."""
    test_images = _by_str_id(images["test_flickr"]) + images["test_coco"]
    for lang in languages:
        records = []
        for im in test_images:
            is_flickr = isinstance(im.id, str)
            caption = first_en[im.id] if lang == "en" and is_flickr else _caption(seed, im, lang, "test")
            records.append(_record([caption], im))
        write_jsonl(annotations / "xFlickrCO" / "annotations" / lang / "test.jsonl", records)
    return test_images


def xflickrco_test_plans(seed: int, n_test: int, lang: str) -> list[tuple[Scene, CaptionPlan]]:
    """Each xFlickrCO test image's scene and what its `lang` caption says, in drawing order (not file order)."""
    plans = []
    for split, n in xflickrco_test_halves(n_test).items():
        for i in range(n):
            key = f"{split}:{i}"
            # English Flickr images reuse their first Flickr30K caption: `_distinct_captions`' attempt 0
            tag = "0" if lang == "en" and split == "test_flickr" else "test"
            scene = sample_scene(scene_rng(seed, key))
            plans.append((scene, caption_plan(scene, caption_rng(seed, key, lang, tag))))
    return plans


def _write_fewshot(seed, annotations: Path, pool: list[DemoImage], sizes, languages) -> None:
    """Few-shot train_{N}: the first N pool images, so a smaller file is a subset of a bigger one."""
    for lang in (lang for lang in languages if lang != "en"):
        for n in sizes:
            records = [_record([_caption(seed, im, lang, "fewshot")], im) for im in _by_str_id(pool[:n])]
            write_jsonl(annotations / "xFlickrCO" / "annotations" / lang / f"train_{n}.jsonl", records)


def _write_pretraining(seed, out: Path, images: list[DemoImage], given_languages) -> None:
    """given.jsonl and references.jsonl: one rng state per image for all languages, so the captions are
    parallel "translations"; the references are the languages the pipeline translates (chrF/BLEU)."""
    given, references = [], []
    for im in images:
        caption = {
            lang: describe(im.scene, lang, random.Random(f"{seed}:caption:{im.key}:given"))
            for lang in (*given_languages, *LEXICON_LANGUAGES)
        }
        given.append(
            {"caption": {lang: caption[lang] for lang in given_languages}, "image_path": im.img_path}
        )
        references.append(
            {"caption": {lang: caption[lang] for lang in LEXICON_LANGUAGES}, "image_path": im.img_path}
        )
    write_jsonl(out / "given.jsonl", given)
    write_jsonl(out / "references.jsonl", references)


def _write_lexicon(path: Path) -> int:
    """The en -> id, es, ru, tr phrase table; returns its row count."""
    rows = lexicon_entries()
    columns = ("en", *LEXICON_LANGUAGES)
    with atomic_open(path) as f:
        f.write("\t".join(columns) + "\n")
        for row in rows:
            f.write("\t".join(row[c] for c in columns) + "\n")
    return len(rows)
