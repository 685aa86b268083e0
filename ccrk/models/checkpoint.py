"""ccrk's checkpoint format: {"model": state_dict, "config": CCRKConfig dict, ...}, written atomically.

`load_model` also reads the released CCLM/CCRK checkpoints (original key layout, docs/method.md#checkpoint-layout).
"""

import logging

import torch

from ccrk.io import atomic_path
from ccrk.models.ccrk_model import CCRKModel
from ccrk.models.config import CCRKConfig
from ccrk.models.keymap import (
    FINETUNED_TEXT,
    KeyReport,
    ccrk_to_original,
    check_against,
    is_original_layout,
    original_to_ccrk,
    text_prefix,
)
from ccrk.models.weights import (
    config_from_original,
    load_into,
    model_state_dict,
    read_torch_file,
)

log = logging.getLogger("ccrk.models.checkpoint")


def save_checkpoint(path, model: CCRKModel, **extra) -> None:
    """Write model weights and config (plus e.g. optimizer state, step) so a kill never leaves half a file."""
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "config": model.cfg.to_dict(), **extra}, tmp)


def read_any_checkpoint(
    path, text_heads: int | None = None, image_res: int | None = None
) -> tuple[dict, CCRKConfig, KeyReport, tuple]:
    """(ccrk-keyed state dict, its config, what did not map, key prefixes the file may lack) of either layout.

    A fine-tuned original (RetrievalModel) has no MLM head: ccrk's stays freshly initialised, unused there.
    A file without ccrk's config has it read from the shapes (`config_from_original`: `text_heads` and
    `image_res` stand in for what they do not hold).
    """
    obj = read_torch_file(path)
    sd = model_state_dict(obj, path)
    if not is_original_layout(sd):
        if "config" not in obj:
            raise ValueError(f"{path}: a ccrk-layout state dict without its 'config' entry")
        return dict(sd), CCRKConfig.from_dict(obj["config"]), KeyReport(), ()
    # written by `to_original_file`: the exact config; a released file: read from the shapes
    cfg = (
        CCRKConfig.from_dict(obj["ccrk_config"])
        if "ccrk_config" in obj
        else config_from_original(sd, text_heads, image_res)
    )
    optional = ("mlm_head.",) if text_prefix(sd) == FINETUNED_TEXT else ()
    mapped, report = original_to_ccrk(sd, cfg.text.num_text_layers)
    if report.dropped:
        log.info(
            "%s: dropped %d keys of a head ccrk does not have (CCLM's box head): %s",
            path,
            len(report.dropped),
            ", ".join(report.dropped),
        )
    return mapped, cfg, report, optional


def load_model(
    path, image_res: int | None = None, window_size: int | None = None, text_heads: int | None = None
) -> CCRKModel:
    """A model from a ccrk or released CCLM/CCRK checkpoint, at its own resolution or at `image_res`/`window_size`.

    Another window resamples the Swin relative-position tables (docs/method.md#vision-encoder) whatever the
    model is for next,
    fine-tuning or evaluation only (the original skips this under --evaluate, then fails or misranks).
    """
    sd, cfg, report, optional = read_any_checkpoint(path, text_heads, image_res)
    model = CCRKModel(cfg.with_resolution(image_res, window_size))
    load_into(model, sd, report, optional=optional)
    if not report.clean:
        raise ValueError(f"{path}: checkpoint does not fit its config: {report}")
    if optional:
        log.warning("%s: fine-tuned original without MLM head; the head stays newly initialised", path)
    if (image_res or window_size) and (cfg.vision.image_res, cfg.vision.window_size) != (
        model.cfg.vision.image_res,
        model.cfg.vision.window_size,
    ):
        log.info(
            "%s: %d px / window %d -> %d px / window %d (relative-position tables resampled)",
            path,
            cfg.vision.image_res,
            cfg.vision.window_size,
            model.cfg.vision.image_res,
            model.cfg.vision.window_size,
        )
    return model


def to_ccrk_file(
    src, dst, image_res: int | None = None, window_size: int | None = None, text_heads: int | None = None
) -> CCRKModel:
    """Convert a released (or any) checkpoint to ccrk's format; fails, naming the keys, unless it maps fully."""
    model = load_model(src, image_res, window_size, text_heads)
    save_checkpoint(dst, model, source=str(src))
    return model


def to_original_file(src, dst, finetuned: bool = False, text_heads: int | None = None) -> dict:
    """Write a checkpoint in the original layout (`finetuned`: RetrievalModel's, without MLM head).

    The ccrk config rides along as `ccrk_config`, so converting back restores it exactly.
    """
    sd, cfg, report, optional = read_any_checkpoint(src, text_heads)
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in CCRKModel(cfg).state_dict().items()}
    check_against(sd, shapes, report, optional)
    if not report.clean or (optional and not finetuned):
        raise ValueError(f"{src}: {report}{'; no MLM head for the pretraining layout' if optional else ''}")
    original = ccrk_to_original(sd, cfg.text.num_text_layers, finetuned)
    with atomic_path(dst) as tmp:
        torch.save({"model": original, "ccrk_config": cfg.to_dict()}, tmp)
    return original
