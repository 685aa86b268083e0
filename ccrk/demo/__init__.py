"""Synthetic multilingual image-caption data in the real IGLUE formats, for end-to-end pipeline runs."""

from ccrk.demo.captions import describe, lexicon_entries
from ccrk.demo.dataset import write_demo_dataset
from ccrk.demo.scenes import CELLS, COLOURS, SHAPES, SIZES, Scene, SceneObject, draw_scene, sample_scene
from ccrk.demo.vocabulary import GENERATOR_LANGUAGES, LANGUAGES, TEST_ONLY_LANGUAGES

__all__ = [
    "CELLS",
    "COLOURS",
    "GENERATOR_LANGUAGES",
    "LANGUAGES",
    "SHAPES",
    "SIZES",
    "Scene",
    "SceneObject",
    "TEST_ONLY_LANGUAGES",
    "describe",
    "draw_scene",
    "lexicon_entries",
    "sample_scene",
    "write_demo_dataset",
]
