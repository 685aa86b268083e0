"""Where a demo model's retrieval goes wrong: what its top-1 mistakes differ in, ITC order against ITM re-ranking.

    python bench/demo_errors.py MODEL.pt DATA_DIR [--langs en de ...] [--config config/config.yaml]

DATA_DIR is a demo folder (`bench/demo_seeds.py --data`, or the repository after `make demo`): its tokenizer
(results/tokenizer), test captions and images (resources/demo). The scenes behind the test images are drawn
again from the demo settings of --config (`ccrk.demo.dataset.draw_images`). Both directions are ranked as the
evaluation ranks them (`ccrk.retrieval.two_stage_scores`); for each query whose top-1 is wrong, the wrong image is
compared with the right one, attribute by attribute in this order: count (number of objects), colour (the colours
present, with their multiplicity), size (colour and size of each object), shape (colour, size and shape of each),
position (the rest: same objects, other cells). The first attribute that differs names the mistake.

Also printed, per attribute set: the image-side ceiling, i.e. the R@1 of a model that tells images apart by those
attributes only and guesses uniformly among the test images it cannot tell apart (an upper bound for it: a caption
that leaves out a size or a position narrows less).
"""

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch
import yaml

from ccrk.data.transforms import eval_transform
from ccrk.demo.dataset import draw_images
from ccrk.demo.scenes import Scene
from ccrk.models import load_model
from ccrk.retrieval import encode_images, encode_texts, two_stage_scores
from ccrk.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
KINDS = ("count", "colour", "size", "shape", "position")
# the attributes of each object that a model of that level sees (count: only how many objects there are)
LEVELS = {
    "count": (),
    "colour": ("colour",),
    "size": ("colour", "size"),
    "shape": ("colour", "size", "shape"),
}
LEVELS["position"] = ("colour", "size", "shape", "cell")


def signature(scene: Scene, attributes: tuple[str, ...]) -> tuple:
    """What a model that sees only `attributes` of each object (and their number) knows of a scene."""
    return tuple(sorted(tuple(getattr(o, a) for a in attributes) for o in scene.objects))


def mistake(truth: Scene, picked: Scene) -> str:
    """The first attribute, in KINDS order, in which the picked scene differs from the true one."""
    for kind in KINDS:
        if signature(truth, LEVELS[kind]) != signature(picked, LEVELS[kind]):
            return kind
    return "same scene"  # two test images drawn alike: a mistake no model can avoid


def ceiling(scenes: list[Scene], attributes: tuple[str, ...]) -> float:
    """R@1 (%) of a model that tells scenes apart by `attributes` only, guessing among look-alikes."""
    groups = Counter(signature(s, attributes) for s in scenes)
    return 100 * sum(1 / groups[signature(s, attributes)] for s in scenes) / len(scenes)


def test_scenes(demo: dict) -> dict[str, Scene]:
    """The scene of each test image id, drawn again from the demo settings (ids depend on the split sizes)."""
    sizes = {"n_pretrain": 0, **{k: demo[k] for k in ("n_train", "n_valid", "n_test")}}
    with tempfile.TemporaryDirectory() as tmp:  # only the scenes are kept; the test images are read from data
        drawn = draw_images(demo["seed"], Path(tmp), demo["image_size"], sizes, demo["fewshot_sizes"])
    return {str(im.id): im.scene for im in drawn["test_flickr"] + drawn["test_coco"]}


def test_set(data: Path, lang: str, scene_of: dict[str, Scene]):
    """(image paths, captions, caption -> image index, scenes) of one language's xFlickr&CO test file."""
    demo = data / "resources" / "demo"
    records = [
        json.loads(line) for line in (demo / f"iglue/datasets/xFlickrCO/annotations/{lang}/test.jsonl").open()
    ]
    paths, texts, txt2img, scenes = [], [], [], []
    for i, rec in enumerate(records):
        folder = "val2014" if isinstance(rec["id"], int) else "flickr30k-images"
        paths.append(str(demo / "images" / folder / rec["img_path"]))
        scenes.append(scene_of[str(rec["id"])])
        texts.extend(rec["sentences"])
        txt2img.extend([i] * len(rec["sentences"]))
    return paths, texts, txt2img, scenes


@torch.no_grad()
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("--langs", nargs="+", default=["en", "de", "es", "id", "ja", "ru", "tr", "zh"])
    ap.add_argument("--k-test", type=int, default=8, help="the demo's evaluate.k_test")
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml", help="its demo: settings")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    model = load_model(a.model).eval()
    tok = load_tokenizer(a.data / "results" / "tokenizer")
    dev = torch.device("cpu")
    scene_of = test_scenes(yaml.safe_load(a.config.read_text())["demo"])
    images = None
    totals: dict[str, Counter] = {}
    print(
        f"model {a.model}: top-1 mistakes by what they differ in (queries of both directions, k_test {a.k_test})"
    )
    print("| lang | order | right | " + " | ".join(KINDS) + " | same scene |")
    print("|---|---|---|" + "---|" * (len(KINDS) + 1))
    for lang in a.langs:
        paths, texts, txt2img, scenes = test_set(a.data, lang, scene_of)
        if images is None:  # every language ranks the same images
            images = encode_images(model, paths, eval_transform(model.cfg.vision.image_res), 128, dev)
        txt = encode_texts(model, tok, texts, 128, 48, 40, dev)
        i2t, t2i, itc = two_stage_scores(model, images, txt, a.k_test, 128)
        gold = torch.tensor(txt2img)
        for order, (ir, tr) in {"ITC": (itc.t(), itc), "ITM": (t2i, i2t)}.items():
            picks = [(scenes[g], scenes[p]) for g, p in zip(gold.tolist(), ir.argmax(1).tolist())]
            picks += [(scenes[i], scenes[txt2img[p]]) for i, p in enumerate(tr.argmax(1).tolist())]
            count = Counter("right" if t is p else mistake(t, p) for t, p in picks)
            totals.setdefault(order, Counter()).update(count)
            cells = [count[k] for k in ("right", *KINDS, "same scene")]
            print(f"| {lang} | {order} | " + " | ".join(str(c) for c in cells) + " |")
    for order, count in totals.items():
        cells = [count[k] for k in ("right", *KINDS, "same scene")]
        print(f"| all | {order} | " + " | ".join(str(c) for c in cells) + " |")
    print("image-side ceiling of R@1 (%) for a model that tells test images apart by:")
    for attributes in LEVELS.values():
        print(f"  count + {', '.join(attributes) or 'nothing else'}: {ceiling(scenes, attributes):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
