"""CCRK model: Swin image encoder, XLM-R text layers, fusion layers and heads."""

from ccrk.models.ccrk_model import CCRKModel, ImageStates, TextStates
from ccrk.models.checkpoint import load_checkpoint, load_model, save_checkpoint
from ccrk.models.config import CCRKConfig, TextConfig, VisionConfig

__all__ = ["CCRKConfig", "CCRKModel", "ImageStates", "TextConfig", "TextStates", "VisionConfig",
           "load_checkpoint", "load_model", "save_checkpoint"]
