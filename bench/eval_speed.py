"""ccrk's evaluation against per-query loops on the same model and test set: `python bench/eval_speed.py`.

Every side ranks the same xFlickr&CO-style test languages (the demo generator, `--n-test` images, one
caption per image and language) with the same model and k_test; the script prints each side's time, the
ratios (fastest of `--repeat` interleaved rounds), and whether all gold ranks are identical:

- ccrk: images encoded once and shared by the languages, texts once per language (padded to the longest
  caption), the top-k pairs of both directions fused once each, in length-sorted batches, with each
  image's cross-attention keys/values and each text's first fusion-layer self-attention computed once
  (`two_stage_scores`);
- per-query loop: the same features, one fusion pass of k pairs per query (`per_query_scores`), i.e. the
  original's procedure without its padding;
- original-style: as the original code (docs/method.md#two-stage-retrieval): images encoded again for every
  language, texts padded to max_tokens, one fusion pass per query at that width.

The model is the demo config's architecture with random weights, or a trained checkpoint (`--model`,
`--tokenizer`, e.g. the demo's results/finetune/xflickrco/zeroshot/model.pt and results/tokenizer).
`--fusion-width` / `--image-grid` widen the random-weight model towards the paper's proportions (fusion
width W, FFN 4W, 64-d heads, image tokens as wide as the text; a 12 x 12 grid gives Swin-B's 145 tokens).
"""

import argparse
import copy
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ccrk.data.transforms import eval_transform  # noqa: E402
from ccrk.demo.dataset import write_demo_dataset  # noqa: E402
from ccrk.formats.iglue import load_eval_set  # noqa: E402
from ccrk.metrics import gold_ranks  # noqa: E402
from ccrk.models import CCRKModel, load_model  # noqa: E402
from ccrk.pretrain import model_config_for  # noqa: E402
from ccrk.retrieval import encode_images, encode_texts, per_query_scores, two_stage_scores  # noqa: E402
from ccrk.tokenizer import load_tokenizer, train_tokenizer  # noqa: E402


def ranks(scores, data) -> list[np.ndarray]:
    i2t, t2i, _ = scores
    return [gold_ranks(t2i.numpy(), [[i] for i in data.txt2img]), gold_ranks(i2t.numpy(), data.img2txt)]


def scaled(model_cfg: dict, width: int | None, image_grid: int | None) -> dict:
    """The demo architecture with a wider fusion (and text) model and/or more image tokens."""
    m = copy.deepcopy(model_cfg)
    v, stages = m["vision"], len(m["vision"]["depths"])
    if width:
        m["text"].update(hidden_size=width, num_attention_heads=width // 64, intermediate_size=4 * width)
        v["embed_dim"] = width // 2 ** (stages - 1)  # image tokens as wide as the text
        v["num_heads"] = [max(1, v["embed_dim"] * 2**s // 32) for s in range(stages)]
    if image_grid:  # the last Swin stage's side is image_res / (patch_size * 2 ** (stages - 1))
        v["image_res"] = image_grid * v["patch_size"] * 2 ** (stages - 1)
    return m


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-test", type=int, default=200, help="test images per language (xFlickr&CO: 2000)")
    ap.add_argument("--k-test", type=int, default=16, help="candidates re-ranked per query (paper: 128)")
    ap.add_argument("--langs", default="en,de,ja,zh")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: least disturbed on a shared machine)"
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="rounds, sides interleaved; the fastest round counts"
    )
    ap.add_argument("--model", help="a ccrk checkpoint (default: the demo architecture, random weights)")
    ap.add_argument("--tokenizer", help="its tokenizer directory")
    ap.add_argument(
        "--fusion-width", type=int, help="random weights: text/fusion width W (FFN 4W, W/64 heads)"
    )
    ap.add_argument(
        "--image-grid", type=int, help="random weights: N x N (+1) image tokens (12: Swin-B's 145)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    ev = cfg["evaluate"]
    langs = args.langs.split(",")
    dev = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_demo_dataset(
            root,
            seed=0,
            image_size=cfg["demo"]["image_size"],
            n_pretrain=0,
            n_train=0,
            n_valid=0,
            n_test=args.n_test,
            fewshot_sizes=[],
            test_languages=langs,
        )
        ann = root / "iglue" / "datasets" / "xFlickrCO" / "annotations"
        sets = {
            lang: load_eval_set(
                ann / lang / "test.jsonl", root / "images" / "flickr30k-images", root / "images" / "val2014"
            )
            for lang in langs
        }
        if args.model:
            tok, model = load_tokenizer(args.tokenizer), load_model(args.model)
        else:
            tok = train_tokenizer([t for d in sets.values() for t in d.texts], root / "tok", vocab_size=400)
            model = CCRKModel(model_config_for(tok, scaled(cfg["model"], args.fusion_width, args.image_grid)))
        model.eval()
        transform = eval_transform(model.cfg.vision.image_res)

        def images(data):
            return encode_images(model, data.image_paths, transform, ev["batch_size"], dev)

        def texts(data, pad_to_max=False):
            return encode_texts(
                model,
                tok,
                data.texts,
                ev["batch_size"],
                ev["max_tokens"],
                ev["max_words"],
                dev,
                pad_to_max=pad_to_max,
            )

        def ccrk():
            shared = images(next(iter(sets.values())))  # the same images in every language
            return [
                two_stage_scores(model, shared, texts(d), args.k_test, ev["fusion_batch_size"])
                for d in sets.values()
            ]

        def loop():
            shared = images(next(iter(sets.values())))
            return [per_query_scores(model, shared, texts(d), args.k_test) for d in sets.values()]

        def original():
            return [
                per_query_scores(model, images(d), texts(d, pad_to_max=True), args.k_test, trim=False)
                for d in sets.values()
            ]

        fns = {"ccrk": ccrk, "per-query loop": loop, "original-style": original}
        sides = {}
        with torch.no_grad():
            ccrk()  # warm-up: allocator and thread pools
            for _ in range(
                args.repeat
            ):  # interleaved, so that a load spike on a shared machine hits every side
                for name, fn in fns.items():
                    out, seconds = timed(fn)
                    sides[name] = (out, min(seconds, sides.get(name, (None, float("inf")))[1]))
    ref = [ranks(s, d) for s, d in zip(sides["ccrk"][0], sets.values())]
    same = {
        name: all(
            np.array_equal(a, b)
            for r, o in zip(ref, [ranks(s, d) for s, d in zip(out, sets.values())])
            for a, b in zip(r, o)
        )
        for name, (out, _) in sides.items()
    }
    n_img, n_txt = len(next(iter(sets.values())).image_paths), len(next(iter(sets.values())).texts)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{args.threads} threads, Python {platform.python_version()}"
    )
    v, t = model.cfg.vision, model.cfg.text
    n_tokens = (v.image_res // (v.patch_size * 2 ** (len(v.depths) - 1))) ** 2 + 1
    print(
        f"model: {args.model or 'demo architecture, random weights'}; fusion width {t.hidden_size}, FFN "
        f"{t.intermediate_size}, {t.num_fusion_layers} fusion layers, {n_tokens} image tokens of width "
        f"{v.width}"
    )
    print(
        f"test: {n_img} images, {n_txt} captions x "
        f"{len(langs)} languages; k_test {args.k_test}; fusion batch {ev['fusion_batch_size']}; "
        f"max_tokens {ev['max_tokens']}"
    )
    base = sides["ccrk"][1]
    for name, (_, seconds) in sides.items():
        print(f"{name:>15}: {seconds:7.2f} s  ({seconds / base:5.1f}x ccrk)  identical ranks: {same[name]}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
