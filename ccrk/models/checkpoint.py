"""ccrk's checkpoint format: {"model": state_dict, "config": CCRKConfig dict, ...}, written atomically."""

from pathlib import Path

import torch

from ccrk.io import atomic_path
from ccrk.models.ccrk_model import CCRKModel
from ccrk.models.config import CCRKConfig


def save_checkpoint(path, model: CCRKModel, **extra) -> None:
    """Write model weights and config (plus e.g. optimizer state, step) so a kill never leaves half a file."""
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "config": model.cfg.to_dict(), **extra}, tmp)


def load_checkpoint(path) -> dict:
    """Read a checkpoint with weights_only=True: tensors and plain containers, never pickled code."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_model(path) -> CCRKModel:
    ckpt = load_checkpoint(path)
    model = CCRKModel(CCRKConfig.from_dict(ckpt["config"]))
    missing, unexpected = model.load_state_dict(ckpt["model"], strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: checkpoint does not fit its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model
