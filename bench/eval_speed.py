"""Batched two-stage evaluation against the original's per-query loop: `python bench/eval_speed.py`.

Same model (the demo config's architecture, random weights), same xFlickr&CO-style test set (the demo
generator), same k_test; both rank every language. Prints each side's time, the ratio, and whether the
gold ranks are identical:

- re-ranking: `two_stage_scores` (all top-k pairs of all queries in fusion batches) against
  `per_query_scores` (one fusion pass per query, SPEC §4.1), on the same cached features;
- whole evaluation of L languages: ccrk encodes the shared images once and each language's texts once,
  then re-ranks in batches; the original-style loop re-encodes the images for every language and
  re-ranks one query at a time.
"""

import argparse
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

from ccrk.data.iglue import load_eval_set  # noqa: E402
from ccrk.data.transforms import eval_transform  # noqa: E402
from ccrk.demo.dataset import write_demo_dataset  # noqa: E402
from ccrk.metrics import gold_ranks  # noqa: E402
from ccrk.models import CCRKModel  # noqa: E402
from ccrk.pretrain import model_config_for  # noqa: E402
from ccrk.retrieval import encode_images, encode_texts, per_query_scores, two_stage_scores  # noqa: E402
from ccrk.tokenizer import train_tokenizer  # noqa: E402


def ranks(i2t, t2i, data):
    ir = gold_ranks(t2i.numpy(), [[i] for i in data.txt2img])
    tr = gold_ranks(i2t.numpy(), [g for g in data.img2txt])
    return ir, tr


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-test", type=int, default=200, help="test images (xFlickr&CO: 2000)")
    ap.add_argument("--k-test", type=int, default=16)
    ap.add_argument("--langs", default="en,de,ja,zh")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    ev = cfg["evaluate"]
    langs = args.langs.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_demo_dataset(root, seed=0, image_size=cfg["demo"]["image_size"], n_pretrain=0, n_train=0, n_valid=0,
                           n_test=args.n_test, fewshot_sizes=[], test_languages=langs)
        ann = root / "iglue" / "datasets" / "xFlickrCO" / "annotations"
        sets = {lang: load_eval_set(ann / lang / "test.jsonl", root / "images" / "flickr30k-images",
                                    root / "images" / "val2014") for lang in langs}
        tok = train_tokenizer([t for d in sets.values() for t in d.texts], root / "tok", vocab_size=400)
        model = CCRKModel(model_config_for(tok, cfg["model"])).eval()
        transform = eval_transform(model.cfg.vision.image_res)
        dev = torch.device("cpu")

        def encode_text(data):
            return encode_texts(model, tok, data.texts, ev["batch_size"], ev["max_tokens"], ev["max_words"], dev)

        first = sets[langs[0]]
        with torch.no_grad():
            img, t_img = timed(lambda: encode_images(model, first.image_paths, transform, ev["batch_size"], dev))
            txt = encode_text(first)
            (b_i2t, b_t2i, _), t_batched = timed(lambda: two_stage_scores(model, img, txt, args.k_test,
                                                                          ev["fusion_batch_size"]))
            (l_i2t, l_t2i, _), t_loop = timed(lambda: per_query_scores(model, img, txt, args.k_test))
            same = all(np.array_equal(a, b) for a, b in zip(ranks(b_i2t, b_t2i, first), ranks(l_i2t, l_t2i, first)))

            def ccrk_all():
                shared = encode_images(model, first.image_paths, transform, ev["batch_size"], dev)
                return [two_stage_scores(model, shared, encode_text(d), args.k_test, ev["fusion_batch_size"])
                        for d in sets.values()]

            def original_all():
                return [per_query_scores(model, encode_images(model, d.image_paths, transform, ev["batch_size"], dev),
                                         encode_text(d), args.k_test) for d in sets.values()]

            fast, t_fast = timed(ccrk_all)
            slow, t_slow = timed(original_all)
            same_all = all(np.array_equal(a, b) for d, f, s in zip(sets.values(), fast, slow)
                           for a, b in zip(ranks(f[0], f[1], d), ranks(s[0], s[1], d)))
    n_pairs = 2 * args.k_test * (len(first.image_paths) + len(first.texts))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads, Python {platform.python_version()}")
    print(f"test set: {len(first.image_paths)} images x {len(langs)} languages, k_test {args.k_test}, "
          f"{n_pairs} fusion pairs per language; fusion batch {ev['fusion_batch_size']}; "
          f"model: demo config (hidden {cfg['model']['text']['hidden_size']})")
    print(f"image encoding (once): {t_img:.2f} s")
    print(f"re-ranking one language: batched {t_batched:.2f} s, per-query loop {t_loop:.2f} s, "
          f"ratio {t_loop / t_batched:.1f}x, identical ranks: {same}")
    print(f"whole evaluation of {len(langs)} languages: ccrk {t_fast:.2f} s, original-style {t_slow:.2f} s, "
          f"ratio {t_slow / t_fast:.1f}x, identical ranks: {same_all}")
    return 0 if same and same_all else 1


if __name__ == "__main__":
    sys.exit(main())
