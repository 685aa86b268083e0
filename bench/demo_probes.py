"""What a demo model tells apart: each scene attribute changed in one object, scored by ITC and by the ITM.

    python bench/demo_probes.py MODEL.pt TOKENIZER_DIR [--seed 0] [--image-size 64] [--langs en de zh ...]

The demo's test images are drawn again from the demo seed (`ccrk.demo.dataset`, nothing read but the model and
the tokenizer). For each test image and each probe, the caption of the true scene is paired with the caption of
the same scene with one attribute of one object changed (colour, shape, size, or its grid cell to a free one),
written with the same random draws (object order, template, omissions), so the two captions differ only in
that attribute's words; pairs whose captions come out equal are skipped. A model "tells the attribute apart"
on a pair when it scores the true caption above the changed one: ITC by cosine similarity, the ITM by its
match logit. Chance is 50 %. Prints, per language and attribute, the share of pairs won by each score.
"""

import argparse
import random
import sys
import tempfile
from pathlib import Path

import torch

from ccrk.data.transforms import eval_transform
from ccrk.demo.captions import describe
from ccrk.demo.dataset import draw_images
from ccrk.demo.scenes import CELLS, COLOURS, SHAPES, SIZES, Scene, SceneObject
from ccrk.demo.vocabulary import VOCAB
from ccrk.models import load_model
from ccrk.retrieval import encode_images, encode_texts, itm_scores
from ccrk.tokenizer import load_tokenizer

ATTRIBUTES = ("colour", "shape", "size", "cell")


def changed(scene: Scene, obj: int, attribute: str, rng: random.Random) -> Scene | None:
    """The scene with one attribute of object `obj` set to another value (a cell: a free one); None if none."""
    o = scene.objects[obj]
    if attribute == "cell":
        options = [c for c in CELLS if c not in {x.cell for x in scene.objects}]
    else:
        values = {"colour": COLOURS, "shape": SHAPES, "size": SIZES}[attribute]
        options = [v for v in values if v != getattr(o, attribute)]
    if not options:
        return None
    new = SceneObject(**{**o.__dict__, attribute: rng.choice(options)})
    return Scene(tuple(new if i == obj else x for i, x in enumerate(scene.objects)))


def probe_pairs(scenes: list[Scene], lang: str, seed: int) -> dict[str, list[tuple[int, str, str]]]:
    """Per attribute: (image index, true caption, changed caption) pairs, captions written alike."""
    pairs: dict[str, list] = {a: [] for a in ATTRIBUTES}
    for i, scene in enumerate(scenes):
        for attribute in ATTRIBUTES:
            pick = random.Random(f"{seed}:probe:{i}:{attribute}")
            other = changed(scene, pick.randrange(len(scene.objects)), attribute, pick)
            if other is None:
                continue
            draws = f"{seed}:probe-caption:{i}:{attribute}:{lang}"
            true, false = (
                describe(scene, lang, random.Random(draws)),
                describe(other, lang, random.Random(draws)),
            )
            if true != false:
                pairs[attribute].append((i, true, false))
    return pairs


@torch.no_grad()
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("tokenizer")
    ap.add_argument("--seed", type=int, default=0, help="the demo's demo.seed")
    ap.add_argument("--image-size", type=int, default=64, help="the demo's demo.image_size")
    ap.add_argument("--n-test", type=int, default=200, help="the demo's demo.n_test")
    ap.add_argument("--langs", nargs="+", default=["en", "de", "es", "id", "ja", "ru", "tr", "zh"])
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_model(a.model).eval()
    tok = load_tokenizer(a.tokenizer)
    dev = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {"n_pretrain": 0, "n_train": 0, "n_valid": 0, "n_test": a.n_test}
        drawn = draw_images(a.seed, Path(tmp), a.image_size, sizes, [])
        test = drawn["test_flickr"] + drawn["test_coco"]
        paths = [
            str(Path(tmp) / ("val2014" if isinstance(im.id, int) else "flickr30k-images") / im.img_path)
            for im in test
        ]
        images = encode_images(model, paths, eval_transform(model.cfg.vision.image_res), 128, dev)
    print(
        f"model {a.model}: share of pairs where the true caption scores above the changed one (chance 50 %)"
    )
    print("| lang | score | " + " | ".join(ATTRIBUTES) + " |")
    print("|---|---|" + "---|" * len(ATTRIBUTES))
    totals: dict[tuple[str, str], list[float]] = {}
    for lang in a.langs:
        if lang not in VOCAB:
            raise SystemExit(f"unknown demo language {lang!r}")
        pairs = probe_pairs([im.scene for im in test], lang, a.seed)
        row = {"ITC": [], "ITM": []}
        for attribute in ATTRIBUTES:
            idx = torch.tensor([i for i, _, _ in pairs[attribute]])
            texts = [t for _, t, _ in pairs[attribute]] + [f for _, _, f in pairs[attribute]]
            txt = encode_texts(model, tok, texts, 128, 48, 40, dev)
            n = len(idx)
            itc = (images.feat[idx.repeat(2)] * txt.feat).sum(dim=1)
            itm = itm_scores(model, images, txt, idx.repeat(2), torch.arange(2 * n), 128)
            for name, s in (("ITC", itc), ("ITM", itm)):
                won = (s[:n] > s[n:]).float().mean().item() * 100
                row[name].append(won)
                totals.setdefault((name, attribute), []).append(won)
        for name in ("ITC", "ITM"):
            print(f"| {lang} | {name} | " + " | ".join(f"{x:.1f}" for x in row[name]) + " |")
    for name in ("ITC", "ITM"):
        means = [sum(totals[(name, att)]) / len(totals[(name, att)]) for att in ATTRIBUTES]
        print(f"| mean | {name} | " + " | ".join(f"{x:.1f}" for x in means) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
