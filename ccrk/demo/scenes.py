"""Synthetic scenes: 1-3 coloured shapes in the cells of a 3x3 grid, and their rendering with PIL."""

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow", "purple", "white")
SIZES = ("small", "large")
CELLS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")

# saturated and far apart in RGB, so a small vision model can tell them apart on the dark background
RGB = {
    "red": (220, 30, 30),
    "green": (30, 200, 60),
    "blue": (40, 90, 240),
    "yellow": (240, 220, 30),
    "purple": (160, 40, 200),
    "white": (245, 245, 245),
}
BACKGROUND = (40, 40, 40)
SIZE_FRACTION = {"small": 0.40, "large": 0.75}  # object extent as a fraction of the cell side
JITTER = 0.05  # max shift of an object's centre, as a fraction of the cell side
COLOUR_NOISE = 10  # max shift per RGB channel, so same-description images differ


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    cell: str


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]


def sample_scene(rng: random.Random, max_objects: int = 3) -> Scene:
    """1..max_objects objects in distinct cells, every attribute uniform."""
    if not 1 <= max_objects <= len(CELLS):
        raise ValueError(f"max_objects must be in 1..{len(CELLS)}, got {max_objects}")
    n = rng.randint(1, max_objects)
    cells = rng.sample(CELLS, n)
    return Scene(
        tuple(SceneObject(rng.choice(SHAPES), rng.choice(COLOURS), rng.choice(SIZES), cell) for cell in cells)
    )


def cell_box(cell: str, image_size: int) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a grid cell in pixels."""
    row, col = divmod(CELLS.index(cell), 3)
    side = image_size / 3
    return col * side, row * side, (col + 1) * side, (row + 1) * side


def _noisy(rgb: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    return tuple(min(255, max(0, c + rng.randint(-COLOUR_NOISE, COLOUR_NOISE))) for c in rgb)


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, image_size: int, rng: random.Random) -> None:
    x0, y0, x1, y1 = cell_box(obj.cell, image_size)
    side = x1 - x0
    cx = (x0 + x1) / 2 + rng.uniform(-JITTER, JITTER) * side
    cy = (y0 + y1) / 2 + rng.uniform(-JITTER, JITTER) * side
    r = SIZE_FRACTION[obj.size] * side / 2
    fill = _noisy(RGB[obj.colour], rng)
    if obj.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill)
    elif obj.shape == "cross":
        t = r / 3  # half the bar thickness
        draw.rectangle((cx - r, cy - t, cx + r, cy + t), fill=fill)
        draw.rectangle((cx - t, cy - r, cx + t, cy + r), fill=fill)
    else:
        raise ValueError(f"unknown shape {obj.shape!r}; expected one of {SHAPES}")


def draw_scene(scene: Scene, image_size: int, rng: random.Random) -> Image.Image:
    """Render the scene as an RGB image: each object in its cell, with jitter and colour noise from rng."""
    image = Image.new("RGB", (image_size, image_size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw_object(draw, obj, image_size, rng)
    return image
