"""CCRK model: Swin image encoder, XLM-R text layers, fusion layers and heads."""

from ccrk.models.ccrk_model import CCRKModel, ImageStates, TextStates
from ccrk.models.checkpoint import load_model, read_any_checkpoint, save_checkpoint
from ccrk.models.config import CCRKConfig, TextConfig, VisionConfig
from ccrk.models.keymap import KeyReport
from ccrk.models.weights import load_init_weights

__all__ = [
    "CCRKConfig",
    "CCRKModel",
    "ImageStates",
    "KeyReport",
    "TextConfig",
    "TextStates",
    "VisionConfig",
    "load_init_weights",
    "load_model",
    "read_any_checkpoint",
    "save_checkpoint",
]
