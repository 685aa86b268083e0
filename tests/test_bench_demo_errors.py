"""bench/demo_errors.py: what a top-1 mistake differs in, and the ceiling of a model that sees some attributes."""

import importlib.util
from collections import Counter

import pytest

from ccrk.demo.scenes import Scene, SceneObject
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("demo_errors", REPO / "bench" / "demo_errors.py")
errors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(errors)


def scene(*objects: str) -> Scene:
    """'red circle large top' -> one object per string."""
    out = []
    for spec_ in objects:
        colour, shape, size, cell = spec_.split(maxsplit=3)
        out.append(SceneObject(shape, colour, size, cell))
    return Scene(tuple(out))


TRUTH = scene("red circle large top", "blue square small center")


@pytest.mark.parametrize(
    ("picked", "kind"),
    [
        (scene("red circle large top"), "count"),
        (scene("red circle large top", "blue square small center", "red cross small left"), "count"),
        (scene("red circle large top", "green square small center"), "colour"),
        (scene("red circle small top", "blue square small center"), "size"),
        (scene("red cross large top", "blue square small center"), "shape"),
        (scene("red circle large left", "blue square small center"), "position"),
        # the objects listed in another order are the same scene
        (scene("blue square small center", "red circle large top"), "same scene"),
        # sizes swapped between the colours: same colours and sizes, bound otherwise
        (scene("red circle small top", "blue square large center"), "size"),
    ],
)
def test_mistake_names_the_first_attribute_that_differs(picked, kind):
    assert errors.mistake(TRUTH, picked) == kind


def test_ceiling_guesses_uniformly_among_look_alikes():
    scenes = [
        scene("red circle large top"),
        scene("red square large left"),  # same colour and size as the first: one group of 2 below "shape"
        scene("red circle small top"),
        scene("blue circle large top", "red circle large left"),
    ]
    # by count only: three one-object scenes (1/3 each) and one alone (1): (3 * 1/3 + 1) / 4
    assert errors.ceiling(scenes, ()) == pytest.approx(100 * 2 / 4)
    # count + colour: the three red ones together, the two-object scene alone
    assert errors.ceiling(scenes, ("colour",)) == pytest.approx(100 * 2 / 4)
    # + size: {red large} x2, {red small}, {blue large, red large}: (2 * 1/2 + 1 + 1) / 4
    assert errors.ceiling(scenes, ("colour", "size")) == pytest.approx(100 * 3 / 4)
    assert errors.ceiling(scenes, ("colour", "size", "shape")) == pytest.approx(100.0)


def test_row_puts_right_per_direction_then_mistakes_in_the_header_order():
    count = Counter({"right IR": 3, "right TR": 1, "count": 2, "shape": 4, "same scene": 1})
    # header: right IR / TR | count | colour | size | shape | position | same scene
    assert errors.row(count) == "3 / 1 | 2 | 0 | 0 | 4 | 0 | 1"
