"""bench/demo_ceiling.py: the R@1 of a matcher that knows some scene attributes, against hand counts."""

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from ccrk.demo.captions import CaptionPlan, caption_text
from ccrk.demo.dataset import xflickrco_test_plans
from ccrk.demo.scenes import Scene, SceneObject

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("demo_ceiling", REPO / "bench" / "demo_ceiling.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _item(*objects, size=None, position=None) -> tuple[Scene, CaptionPlan]:
    """A scene and a caption stating every object in order (`size`/`position`: which keep that phrase)."""
    objs = tuple(SceneObject(*o) for o in objects)
    n = len(objs)
    return Scene(objs), CaptionPlan(objs, size or (True,) * n, position or (True,) * n, 0)


def test_ceiling_matches_hand_counts():
    red_circle = _item(("circle", "red", "small", "top left"))
    red_square = _item(("square", "red", "small", "top"), size=(False,))  # size left out
    blue_circle = _item(("circle", "blue", "large", "center"))
    two = _item(("circle", "red", "small", "left"), ("square", "blue", "large", "right"))
    plans = [red_circle, red_square, blue_circle, two]
    # colour: the two red one-object captions fit both red one-object scenes; the rest fit only themselves
    assert bench.ceiling(plans, ("colour",), True) == pytest.approx({"ir_r1": 75.0, "tr_r1": 75.0})
    # + shape: each caption fits only its own scene
    assert bench.ceiling(plans, ("colour", "shape"), True) == pytest.approx({"ir_r1": 100.0, "tr_r1": 100.0})
    # + size: both red scenes are small and the red square's caption leaves its size out, so both still fit both
    assert bench.ceiling(plans, ("colour", "size"), True) == pytest.approx({"ir_r1": 75.0, "tr_r1": 75.0})


def test_binding_and_left_out_phrases():
    swapped_a = _item(("circle", "red", "small", "left"), ("square", "blue", "small", "right"))
    swapped_b = _item(("square", "red", "small", "left"), ("circle", "blue", "small", "right"))
    plans = [swapped_a, swapped_b]
    # bag: "red, blue" and "circle, square" are stated by both, so each caption fits both scenes
    assert bench.ceiling(plans, ("colour", "shape"), False) == pytest.approx({"ir_r1": 50.0, "tr_r1": 50.0})
    assert bench.ceiling(plans, ("colour", "shape"), True) == pytest.approx({"ir_r1": 100.0, "tr_r1": 100.0})
    green = Scene(
        (SceneObject("circle", "red", "small", "left"), SceneObject("square", "green", "small", "top"))
    )
    assert not bench.fits(green, bench.said(swapped_a[1], ("colour", "shape")), ("colour", "shape"), False)
    # position stated only for one object of b: a's scene has blue at right too, but red is at left in both
    a_scene, _ = swapped_a
    _, b_plan = swapped_b
    b_dropped = CaptionPlan(b_plan.objects, b_plan.with_size, (False, True), 0)
    stated = bench.said(b_dropped, ("colour", "cell"))
    assert stated == [("red", None), ("blue", "right")]
    assert bench.fits(a_scene, stated, ("colour", "cell"), True)
    assert not bench.fits(Scene(a_scene.objects[:1]), stated, ("colour", "cell"), True)  # object count


def test_own_caption_must_fit():
    scene, plan = _item(("circle", "red", "small", "left"))
    other = Scene((SceneObject("circle", "blue", "small", "left"),))
    with pytest.raises(AssertionError, match="test item 0"):
        bench.ceiling([(other, plan), (scene, plan)], ("colour",), True)


@pytest.mark.parametrize("lang", ["en", "de", "ja"])
def test_test_plans_are_the_test_files_captions(demo_dataset, lang):
    # the conftest demo: seed 3, n_test 12 (English: the Flickr half reuses the first Flickr30K caption)
    path = demo_dataset / "iglue" / "datasets" / "xFlickrCO" / "annotations" / lang / "test.jsonl"
    in_file = Counter(
        json.loads(line)["sentences"][0] for line in path.read_text(encoding="utf-8").splitlines()
    )
    planned = Counter(caption_text(plan, lang) for _, plan in xflickrco_test_plans(3, 12, lang))
    assert planned == in_file
