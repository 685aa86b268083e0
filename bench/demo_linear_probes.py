"""Which scene attributes a demo model's frozen features hold, image side and text side: linear probes.

    python bench/demo_linear_probes.py MODEL.pt TOKENIZER_DIR [--langs en de zh] [--n 1500]
    python bench/demo_linear_probes.py --random-init TOKENIZER_DIR          # config/config.yaml's model, untrained

One-object demo scenes (`ccrk.demo.scenes`, drawn afresh) and one caption of each per language. For each feature
(the image's pooled token, its contrastive feature, all its patch tokens flattened, each language's contrastive
text feature) a linear classifier per attribute (shape, cell, colour, size) is fitted on the first 80 % of the
scenes (standardised features, Adam, 500 steps) and scored on the rest. Chance: shape 25 %, cell 11 %, colour 17 %,
size 50 %; a caption leaves one object's position out with probability 0.3 and its size with 0.25, so text probes
of those top out near 73 % and 79 %. `bench/demo_probes.py` asks what the model's scores tell apart; this asks
where the information is lost (a patch token that holds the cell while the pooled feature does not: the pooling).
"""

import argparse
import random
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from ccrk.data.transforms import eval_transform
from ccrk.demo import scenes
from ccrk.demo.captions import describe
from ccrk.models import load_model
from ccrk.retrieval import encode_texts
from ccrk.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
ATTRIBUTES = {"shape": scenes.SHAPES, "cell": scenes.CELLS, "colour": scenes.COLOURS, "size": scenes.SIZES}


def linear_probe_accuracy(
    x: torch.Tensor, y: torch.Tensor, n_classes: int, n_train: int, steps: int = 500
) -> float:
    """Held-out accuracy in % of a linear softmax classifier fitted on rows [:n_train] and scored on the rest."""
    if not 0 < n_train < len(x):
        raise ValueError(f"n_train must leave rows on both sides, got {n_train} of {len(x)}")
    train = x[:n_train]
    x = (x - train.mean(0)) / (train.std(0) + 1e-6)  # standardised on the training rows only
    w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(x[:n_train] @ w + b, y[:n_train]) + 1e-3 * w.square().sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return 100 * ((x[n_train:] @ w + b).argmax(1) == y[n_train:]).float().mean().item()


@torch.no_grad()
def probe_features(model, tok, n: int, langs: list[str], image_size: int, seed: int, max_tokens: int = 48):
    """({feature name: [n, D]}, labels [n, 4] in ATTRIBUTES' order) for n one-object scenes."""
    rng, transform = random.Random(seed), eval_transform(image_size)
    images, labels, captions = [], [], {lang: [] for lang in langs}
    for _ in range(n):
        scene = scenes.sample_scene(rng, max_objects=1)
        images.append(transform(scenes.draw_scene(scene, image_size, rng)))
        labels.append([values.index(getattr(scene.objects[0], a)) for a, values in ATTRIBUTES.items()])
        for lang in langs:
            captions[lang].append(describe(scene, lang, rng))
    img = model.encode_image(torch.stack(images))
    feats = {"image pooled token": img.tokens[:, 0], "image ITC feature": img.feat}
    feats["image patch tokens, flattened"] = img.tokens[:, 1:].flatten(1)
    for (
        lang,
        texts,
    ) in captions.items():  # cleaned and tokenised as evaluation does (the demo's max_words: 40)
        feats[f"text ITC feature, {lang}"] = encode_texts(model, tok, texts, 128, max_tokens, 40, "cpu").feat
    return feats, torch.tensor(labels)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", help="a ccrk checkpoint (omit with --random-init)")
    ap.add_argument("tokenizer")
    ap.add_argument(
        "--random-init", action="store_true", help="config/config.yaml's model, untrained (seed 0)"
    )
    ap.add_argument("--langs", nargs="+", default=["en", "de", "zh"])
    ap.add_argument("--n", type=int, default=1500, help="scenes; 80 %% fit the probes")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.random_init == bool(a.model):
        ap.error("give one of MODEL and --random-init")
    torch.set_num_threads(a.threads)
    tok = load_tokenizer(a.tokenizer)
    if a.random_init:
        from ccrk.pretrain import initial_model

        torch.manual_seed(0)
        model = initial_model(tok, yaml.safe_load((REPO / "config" / "config.yaml").read_text())["model"])
    else:
        model = load_model(a.model)
    feats, labels = probe_features(model.eval(), tok, a.n, a.langs, a.image_size, a.seed)
    n_train = int(0.8 * a.n)
    print(f"{a.model or 'random init'}: {a.n} one-object scenes, held-out accuracy in %")
    print("| features | " + " | ".join(ATTRIBUTES) + " |")
    print("|---|" + "---|" * len(ATTRIBUTES))
    for name, x in feats.items():
        accs = [
            linear_probe_accuracy(x, labels[:, j], len(v), n_train) for j, v in enumerate(ATTRIBUTES.values())
        ]
        print(f"| {name} | " + " | ".join(f"{acc:.1f}" for acc in accs) + " |")


if __name__ == "__main__":
    main()
