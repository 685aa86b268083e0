"""Where a demo model's retrieval goes wrong: what its top-1 mistakes differ in, ITC order against ITM re-ranking.

    python bench/demo_errors.py MODEL.pt DATA_DIR [--langs en de ...] [--config config/config.yaml] [--all-pairs]

The test languages, k_test and caption limits default to --config's (languages.xflickrco_test, evaluate).

DATA_DIR is a demo folder (`bench/demo_seeds.py --data`, or the repository after `make demo`): its tokenizer
(results/tokenizer), test captions and images (resources/demo). The scenes behind the test images are drawn
again from the demo settings of --config (`ccrk.demo.dataset.draw_images`). Both directions are ranked as the
evaluation ranks them (`ccrk.retrieval.two_stage_scores`); for each query whose top-1 is wrong, the wrong image is
compared with the right one, attribute by attribute in this order: count (number of objects), colour (the colours
present, with their multiplicity), size (colour and size of each object), shape (colour, size and shape of each),
position (the rest: same objects, other cells). The first attribute that differs names the mistake.
`--all-pairs` adds a third order: the ITM alone, scoring every (image, text) pair with no ITC stage (the
original's `--wo_cl` over all candidates), which tells whether the ITM is a better ranker than ITC at all or
only helps within ITC's top k.

Also printed, per attribute set: the image-side ceiling, i.e. the R@1 of a model that tells images apart by those
attributes only and guesses uniformly among the test images it cannot tell apart (an upper bound for it: a caption
that leaves out a size or a position narrows less).
"""

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import torch
import yaml

from ccrk.data.transforms import eval_transform
from ccrk.demo.dataset import draw_images
from ccrk.demo.scenes import Scene
from ccrk.formats.iglue import load_eval_set
from ccrk.models import load_model
from ccrk.retrieval import encode_images, encode_texts, itm_scores, two_stage_scores
from ccrk.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
KINDS = ("count", "colour", "size", "shape", "position")
# the attributes of each object that a model of that level sees (count: only how many objects there are)
LEVELS = {
    "count": (),
    "colour": ("colour",),
    "size": ("colour", "size"),
    "shape": ("colour", "size", "shape"),
    "position": ("colour", "size", "shape", "cell"),
}


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


def drawn_test_scenes(demo: dict) -> dict[tuple[str, str], Scene]:
    """The scene of each test image by `image_key`, drawn again from the demo settings (ids need every size)."""
    sizes = {"n_pretrain": 0, **{k: demo[k] for k in ("n_train", "n_valid", "n_test")}}
    with tempfile.TemporaryDirectory() as tmp:  # only the scenes are kept; the test images are read from data
        drawn = draw_images(demo["seed"], Path(tmp), demo["image_size"], sizes, demo["fewshot_sizes"])
    return {
        **{("flickr", str(im.id)): im.scene for im in drawn["test_flickr"]},
        **{("coco", str(im.id)): im.scene for im in drawn["test_coco"]},
    }


def row(count: Counter) -> str:
    """One table row's cells: right top-1s per direction, then the mistakes by kind."""
    return " | ".join(
        [f"{count['right IR']} / {count['right TR']}", *(str(count[k]) for k in (*KINDS, "same scene"))]
    )


@torch.no_grad()
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("data", type=Path)
    ap.add_argument("--langs", nargs="+", help="default: the config's languages.xflickrco_test")
    ap.add_argument("--k-test", type=int, help="default: the config's evaluate.k_test")
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--all-pairs", action="store_true", help="also rank by the ITM over every pair")
    a = ap.parse_args(argv)
    cfg = yaml.safe_load(a.config.read_text())
    ev = cfg["evaluate"]
    langs, a.k_test = a.langs or cfg["languages"]["xflickrco_test"], a.k_test or ev["k_test"]
    torch.set_num_threads(a.threads)
    model = load_model(a.model).eval()
    tok = load_tokenizer(a.data / "results" / "tokenizer")
    dev = torch.device("cpu")
    scene_of = drawn_test_scenes(cfg["demo"])
    demo = a.data / "resources" / "demo"
    images = None
    totals: dict[str, Counter] = {}
    print(
        f"model {a.model}: top-1 mistakes by what they differ in (queries of both directions, k_test {a.k_test})"
    )
    print("| lang | order | right IR / TR | " + " | ".join(KINDS) + " | same scene |")
    print("|---|---|---|" + "---|" * (len(KINDS) + 1))
    for lang in langs:
        test = load_eval_set(
            demo / f"iglue/datasets/xFlickrCO/annotations/{lang}/test.jsonl",
            demo / "images" / "flickr30k-images",
            demo / "images" / "val2014",
        )
        scenes = [scene_of[key] for key in test.image_keys]
        if images is None:  # every language ranks the same images
            images = encode_images(
                model, test.image_paths, eval_transform(model.cfg.vision.image_res), 128, dev
            )
        txt = encode_texts(model, tok, test.texts, ev["batch_size"], ev["max_tokens"], ev["max_words"], dev)
        i2t, t2i, itc = two_stage_scores(model, images, txt, a.k_test, ev["fusion_batch_size"])
        # queries of each direction: the IR picks come first below, then the TR picks
        n_ir = len(test.txt2img)
        orders = {"ITC": (itc.t(), itc), "ITM": (t2i, i2t)}
        if a.all_pairs:  # [N_img, N_txt] ITM logits of every pair, image-major
            n_img, n_txt = itc.shape
            image_idx = torch.arange(n_img).repeat_interleave(n_txt)
            full = itm_scores(
                model, images, txt, image_idx, torch.arange(n_txt).repeat(n_img), ev["fusion_batch_size"]
            )
            orders["ITM, all pairs"] = (full.view(n_img, n_txt).t(), full.view(n_img, n_txt))
        for order, (ir, tr) in orders.items():
            picks = [(scenes[g], scenes[p]) for g, p in zip(test.txt2img, ir.argmax(1).tolist())]
            picks += [(scenes[i], scenes[test.txt2img[p]]) for i, p in enumerate(tr.argmax(1).tolist())]
            count = Counter(
                ("right IR" if i < n_ir else "right TR") if t is p else mistake(t, p)
                for i, (t, p) in enumerate(picks)
            )
            totals.setdefault(order, Counter()).update(count)
            print(f"| {lang} | {order} | {row(count)} |")
    for order, count in totals.items():
        print(f"| all | {order} | {row(count)} |")
    print("image-side ceiling of R@1 (%) for a model that tells test images apart by:")
    for attributes in LEVELS.values():
        print(f"  count + {', '.join(attributes) or 'nothing else'}: {ceiling(scenes, attributes):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
