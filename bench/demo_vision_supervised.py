"""How fast the demo's vision encoder learns each scene attribute when it is told it: a supervised upper bound.

    python bench/demo_vision_supervised.py                               # config/config.yaml's encoder, 900 steps
    python bench/demo_vision_supervised.py --set model.vision.window_size=8 --steps 1500
    python bench/demo_vision_supervised.py --sizes 0.6 0.9               # larger shapes than the demo draws

Single-object demo scenes (`ccrk.demo.scenes`, 64 px, the objects' sizes as the demo draws them unless
`--sizes`), the demo's `VisionEncoder` with a linear head per attribute (shape, cell, colour, size) on its
average-pooled token (the token the contrastive loss sees), cross-entropy summed over the four, AdamW at
the demo's pretraining lr, batches of 32, 1 thread. Prints the held-out accuracy of each head every 100
steps (chance: shape 25 %, cell 11 %, colour 17 %, size 50 %). An attribute this encoder cannot learn here
within the demo's 744 pretraining steps, it will not learn from captions in them either, where the only
signal is which of the other images in the batch a caption does not describe.
"""

import argparse
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from demo_seeds import apply_sets  # the same --set as the seed sweep, beside this file

from ccrk.data.transforms import eval_transform
from ccrk.demo import scenes
from ccrk.models.config import VisionConfig
from ccrk.models.vision import VisionEncoder

REPO = Path(__file__).resolve().parents[1]
ATTRIBUTES = {"shape": scenes.SHAPES, "cell": scenes.CELLS, "colour": scenes.COLOURS, "size": scenes.SIZES}


def scene_batch(n: int, rng: random.Random, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n one-object scenes as images [n, 3, S, S] and their attribute indices [n, 4] (ATTRIBUTES' order)."""
    transform = eval_transform(image_size)
    images, labels = [], []
    for _ in range(n):
        scene = scenes.sample_scene(rng, max_objects=1)
        obj = scene.objects[0]
        images.append(transform(scenes.draw_scene(scene, image_size, rng)))
        labels.append([values.index(getattr(obj, name)) for name, values in ATTRIBUTES.items()])
    return torch.stack(images), torch.tensor(labels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--set", nargs="*", default=[], help="config overrides, dotted.key=YAML value")
    parser.add_argument("--sizes", nargs=2, type=float, metavar=("SMALL", "LARGE"), help="object sizes")
    parser.add_argument("--train", type=int, default=3000, help="training scenes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    config = apply_sets(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), args.set)
    vision = config["model"]["vision"]
    if args.sizes:
        scenes.SIZE_FRACTION.update(small=args.sizes[0], large=args.sizes[1])
    lr = config["pretrain"]["optimizer"]["lr"]
    rng = random.Random(args.seed)
    x, y = scene_batch(args.train, rng, vision["image_res"])
    x_test, y_test = scene_batch(500, rng, vision["image_res"])
    encoder = VisionEncoder(VisionConfig(**vision))
    heads = torch.nn.ModuleList(torch.nn.Linear(encoder.width, len(v)) for v in ATTRIBUTES.values())
    optimizer = torch.optim.AdamW([*encoder.parameters(), *heads.parameters()], lr=lr, weight_decay=0.02)
    print(f"vision {vision}, sizes {scenes.SIZE_FRACTION}, lr {lr}")
    start = time.process_time()
    for step in range(1, args.steps + 1):
        rows = torch.randint(0, len(x), (32,))
        pooled = encoder(x[rows])[:, 0]  # the average-pooled token
        loss = sum(F.cross_entropy(head(pooled), y[rows, j]) for j, head in enumerate(heads))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            with torch.no_grad():
                pooled = encoder(x_test)[:, 0]
                acc = {
                    n: (h(pooled).argmax(1) == y_test[:, j]).float().mean().item()
                    for j, (n, h) in enumerate(zip(ATTRIBUTES, heads))
                }
            shown = " ".join(f"{name} {100 * a:5.1f}" for name, a in acc.items())
            print(
                f"step {step:5d}  loss {loss.item():.3f}  held-out accuracy %: {shown}  "
                f"({time.process_time() - start:.0f} CPU s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
