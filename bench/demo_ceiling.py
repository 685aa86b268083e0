"""The R@1 a matcher that knows only some attributes of the demo's scenes can reach on its test set.

    python bench/demo_ceiling.py            # config/config.yaml's demo dataset (seed, n_test, test languages)

A matcher that knows the attributes in S (and how many objects there are) ranks every test item that fits the
query on S above every item that does not, and the fitting ones in random order: its expected R@1 is the mean of
1 / (number of fitting items). "bound": it knows which object has which attribute (a red circle and a blue square
is not a blue circle and a red square); "bag": it knows each attribute's values as a multiset, unattached.
An attribute a caption leaves out (a dropped size or position) fits anything. No model is run: the figures are
where colour and size alone cap the demo's R@1, against which the models' R@1 (bench/README.md) is read.
"""

import argparse
import itertools
from collections import Counter
from pathlib import Path

import yaml

from ccrk.demo.captions import CaptionPlan
from ccrk.demo.dataset import xflickrco_test_plans
from ccrk.demo.scenes import Scene

REPO = Path(__file__).resolve().parents[1]
ATTRIBUTES = ("colour", "size", "shape", "cell")
LEVELS = (
    (),  # the object count alone
    ("colour",),
    ("colour", "size"),
    ("colour", "size", "shape"),
    ("colour", "size", "cell"),
    ATTRIBUTES,
)


def said(plan: CaptionPlan, known: tuple[str, ...]) -> list[tuple]:
    """Per object of the caption, its known attributes as the caption states them (None: left out)."""
    kept = {"size": plan.with_size, "cell": plan.with_position}
    return [
        tuple(getattr(obj, a) if a not in kept or kept[a][i] else None for a in known)
        for i, obj in enumerate(plan.objects)
    ]


def fits(scene: Scene, stated: list[tuple], known: tuple[str, ...], bound: bool) -> bool:
    """Whether `scene` could be what the caption states on the `known` attributes (count always known)."""
    if len(scene.objects) != len(stated):
        return False
    objects = [tuple(getattr(obj, a) for a in known) for obj in scene.objects]
    match = lambda s, o: s is None or s == o  # noqa: E731
    if bound:  # some pairing of caption objects with scene objects agrees on every stated attribute
        return any(
            all(match(s, o) for q, p in zip(stated, perm) for s, o in zip(q, p))
            for perm in itertools.permutations(objects)
        )
    for a in range(len(known)):  # each attribute's stated values are a sub-multiset of the scene's
        have = Counter(o[a] for o in objects)
        need = Counter(q[a] for q in stated if q[a] is not None)
        if need - have:
            return False
    return True


def ceiling(plans: list[tuple[Scene, CaptionPlan]], known: tuple[str, ...], bound: bool) -> dict[str, float]:
    """{"ir_r1", "tr_r1"} in % for a matcher knowing `known`, over the test items `plans` (scene, caption)."""
    stated = [said(plan, known) for _, plan in plans]
    fit = [[fits(scene, s, known, bound) for scene, _ in plans] for s in stated]  # [caption][image]
    n = len(plans)
    for i in range(n):
        if not fit[i][i]:
            raise AssertionError(f"test item {i}: its own caption does not fit its scene")
    ir = sum(1 / sum(row) for row in fit) / n
    tr = sum(1 / sum(fit[i][j] for i in range(n)) for j in range(n)) / n
    return {"ir_r1": 100 * ir, "tr_r1": 100 * tr}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    demo, languages = config["demo"], config["languages"]["xflickrco_test"]
    plans = {lang: xflickrco_test_plans(demo["seed"], demo["n_test"], lang) for lang in languages}
    others = [lang for lang in languages if lang != "en"]
    print(
        f"demo seed {demo['seed']}, {demo['n_test']} test images; R@1 in %, IR / TR (chance {100 / demo['n_test']:.1f})"
    )
    print("| matcher knows (and the object count) | binding | en | non-English avg |")
    print("|---|---|---|---|")
    for known in LEVELS:
        for bound in (False, True):
            r = {lang: ceiling(plans[lang], known, bound) for lang in languages}
            en = f"{r['en']['ir_r1']:.1f} / {r['en']['tr_r1']:.1f}"
            avg = [sum(r[lang][k] for lang in others) / len(others) for k in ("ir_r1", "tr_r1")]
            name, binding = ", ".join(known) or "count only", "bound" if bound else "bag"
            print(f"| {name} | {binding} | {en} | {avg[0]:.1f} / {avg[1]:.1f} |")


if __name__ == "__main__":
    main()
