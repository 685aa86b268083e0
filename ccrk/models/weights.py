"""Weights from elsewhere: released CCLM/CCRK checkpoints, XLM-R-large (Hugging Face layout), Swin ImageNet-22k.

Every reader is offline (local paths only) and unpickles with weights_only=True. Each loader returns a
`KeyReport` of what did not fit, so a caller can tell a well-formed file (empty report) from a wrong one.
"""

import json
import logging
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from ccrk.models.ccrk_model import CCRKModel
from ccrk.models.config import CCRKConfig, TextConfig, VisionConfig
from ccrk.models.keymap import KeyReport, check_against, is_recomputed_buffer, swin_from_microsoft
from ccrk.models.swin_resample import fit_absolute_position_embedding, fit_relative_position_tables

log = logging.getLogger("ccrk.models.weights")

# the original's training checkpoints pickle numpy's RNG state next to the weights
_RECONSTRUCT = np._core.multiarray._reconstruct
_NUMPY_RNG_STATE = [
    _RECONSTRUCT,
    (_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    type(np.dtype(np.uint32)),
]


def read_torch_file(path) -> dict:
    """A torch.save file with weights_only=True (tensors, containers, numpy RNG states; never pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(_NUMPY_RNG_STATE):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # mmap needs the zip format; legacy files load without it
        with torch.serialization.safe_globals(_NUMPY_RNG_STATE):
            return torch.load(path, map_location="cpu", weights_only=True)


def model_state_dict(obj: dict, path) -> dict:
    """The state dict of a checkpoint: its `model` entry (pretraining, ccrk) or the dict itself (some fine-tuned)."""
    sd = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{path}: no state dict of tensors (expected a 'model' entry or a bare state dict)")
    return sd


def read_hf_state_dict(directory) -> dict:
    """The weights of a Hugging Face model directory: model.safetensors (sharded or not) or pytorch_model.bin."""
    d = Path(directory)
    if (d / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(d / "model.safetensors")
    if (d / "model.safetensors.index.json").is_file():
        from safetensors.torch import load_file

        shards = sorted(
            set(json.loads((d / "model.safetensors.index.json").read_text())["weight_map"].values())
        )
        return {k: v for shard in shards for k, v in load_file(d / shard).items()}
    if (d / "pytorch_model.bin").is_file():
        return read_torch_file(d / "pytorch_model.bin")
    raise FileNotFoundError(
        f"{d}: no model.safetensors or pytorch_model.bin (a local xlm-roberta-large directory)"
    )


def target_shapes(model: CCRKModel) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def load_into(
    model: CCRKModel,
    state_dict: dict,
    report: KeyReport,
    part: tuple[str, ...] = ("",),
    optional: tuple[str, ...] = (),
) -> KeyReport:
    """Resample the Swin tables to the model's windows, complete the report over the keys starting with `part`,
    and copy in what fits."""
    shapes = {k: s for k, s in target_shapes(model).items() if k.startswith(part)}
    fit_relative_position_tables(state_dict, shapes)
    fit_absolute_position_embedding(state_dict, shapes)
    check_against(state_dict, shapes, report, optional)
    bad = {m.split(":")[0] for m in report.mismatched}
    fitting = {k: v for k, v in state_dict.items() if k in shapes and k not in bad}
    model.load_state_dict(fitting, strict=False)
    return report


# -- XLM-R-large (Hugging Face layout) -> text layers, fusion layers, MLM head ----------------------------
_XLMR_DROPPED = re.compile(r"(pooler\.|lm_head\.decoder\.|.*position_ids$)")


def xlmr_to_ccrk(state_dict: dict, n_text: int, n_fusion: int) -> tuple[dict, KeyReport]:
    """HF XLM-R keys -> ccrk's: layers 1, 3, ..., 2n-1 of 2n become 0..n-1, `lm_head` the MLM head.

    The selection: docs/method.md#text-and-fusion-encoder.
    """
    n = n_text + n_fusion
    sd = {k.removeprefix("roberta."): v for k, v in state_dict.items()}
    layers = {int(m[1]) for k in sd if (m := re.match(r"encoder\.layer\.(\d+)\.", k))}
    if len(layers) == 2 * n:
        keep = {2 * i + 1: i for i in range(n)}  # the original's mapper {1: 0, 3: 1, ..., 23: 11}
    elif len(layers) == n:
        keep = {i: i for i in range(n)}
    else:
        raise ValueError(f"XLM-R has {len(layers)} layers: expected {2 * n} (odd ones kept) or {n}")
    out, report = {}, KeyReport()
    for key, value in sd.items():
        m = re.match(r"encoder\.layer\.(\d+)\.(.*)", key)
        if m:
            i = int(m[1])
            if i in keep:
                j = keep[i]
                out[
                    f"text_encoder.encoder.layer.{j}.{m[2]}"
                    if j < n_text
                    else f"fusion_encoder.layer.{j - n_text}.{m[2]}"
                ] = value
        elif key.startswith("embeddings.") and not key.endswith("position_ids"):
            out["text_encoder." + key] = value
        elif key.startswith("lm_head.") and not key.startswith("lm_head.decoder."):
            out["mlm_head." + key[len("lm_head.") :].replace("layer_norm", "LayerNorm")] = value
        elif not _XLMR_DROPPED.match(key):
            report.unexpected.append(key)
    return out, report


def load_text_init(model: CCRKModel, directory) -> KeyReport:
    """Initialise text layers, fusion layers (bar cross-attention) and MLM head from a local xlm-roberta-large.

    `missing` lists what XLM-R does not have: the cross-attention weights, newly initialised.
    """
    t = model.cfg.text
    sd, report = xlmr_to_ccrk(read_hf_state_dict(directory), t.num_text_layers, t.num_fusion_layers)
    return load_into(model, sd, report, part=("text_encoder.", "fusion_encoder.", "mlm_head."))


# -- Swin ImageNet checkpoint (Microsoft layout) -> vision encoder --------------------------------------
def swin_imagenet_to_ccrk(state_dict: dict) -> tuple[dict, KeyReport]:
    """Microsoft Swin keys -> ours; buffers recomputed, `head.*` dropped (docs/method.md#vision-encoder)."""
    out = {
        "vision_encoder.swin." + swin_from_microsoft(k): v
        for k, v in state_dict.items()
        if not is_recomputed_buffer(k) and not k.startswith("head.")
    }
    return out, KeyReport()


def load_vision_init(model: CCRKModel, path) -> KeyReport:
    """Initialise the Swin encoder from swin_base_patch4_window7_224_22k.pth, tables resampled to the model's window."""
    sd, report = swin_imagenet_to_ccrk(model_state_dict(read_torch_file(path), path))
    return load_into(model, sd, report, part=("vision_encoder.",))


def load_init_weights(model: CCRKModel, text: str = "", vision: str = "") -> dict[str, KeyReport]:
    """Pretraining initialisation from the config's `model.init` paths ("" keeps the random init)."""
    reports = {}
    if text:
        reports["text"] = load_text_init(model, text)
    if vision:
        reports["vision"] = load_vision_init(model, vision)
    for name, report in reports.items():
        if report.unexpected or report.mismatched:
            raise ValueError(
                f"model.init.{name} ({text if name == 'text' else vision}) does not fit: {report}"
            )
        log.info("initialised the %s side; newly initialised: %s", name, report.missing or "nothing")
    return reports


# -- released CCLM / CCRK checkpoints: the model config they imply ----------------------------------------
XLMR_HEADS = {768: 12, 1024: 16}  # XLM-R base / large: 64-dim heads, the widths of every CCLM / CCRK release
_SWIN = "vision_encoder."


def config_from_original(
    state_dict: dict, text_heads: int | None = None, image_res: int | None = None
) -> CCRKConfig:
    """The architecture of an original-layout state dict, read from its shapes.

    Read from the shapes: Swin patch size, width, depths, heads per stage, window (stage-0 table), the absolute
    position embedding and the image size (`_patch_grid`); text vocabulary, width, FFN width, text and fusion
    layer counts, positions; the contrastive width. Not in the weights: the text layers' head count
    (`text_heads`, else hidden / 64, XLM-R's head size, logged), layer-norm eps (XLM-R's 1e-5) and what only
    trains (dropout, drop path). An image size the shapes do not fix is an error unless `image_res` is given.
    """

    def get(key):
        if key not in state_dict:
            raise ValueError(f"not a CCLM/CCRK checkpoint: no {key}")
        return state_dict[key]

    prefix = (
        "text_encoder.bert."
        if any(k.startswith("text_encoder.bert.") for k in state_dict)
        else "text_encoder."
    )
    patch = get(_SWIN + "patch_embed.proj.weight")
    blocks = Counter(
        int(m[1])
        for k in state_dict
        if (m := re.match(r"vision_encoder\.layers\.(\d+)\.blocks\.\d+\.norm1\.weight$", k))
    )
    depths = tuple(blocks[s] for s in range(len(blocks)))
    tables = [
        get(f"{_SWIN}layers.{s}.blocks.0.attn.relative_position_bias_table") for s in range(len(depths))
    ]
    windows = [(math.isqrt(t.shape[0]) + 1) // 2 for t in tables]
    side = _patch_grid(state_dict, depths, windows)
    if side is None:
        if image_res is None:
            raise ValueError(
                "model.vision.image_res is not in the shapes (no absolute_pos_embed, no shifted-window "
                "attention mask, no stage smaller than its window): give the image size (--image-res)"
            )
        side = windows[-1] * 2 ** (len(depths) - 1)  # a valid source grid; the caller loads at image_res
    vision = VisionConfig(
        image_res=side * patch.shape[-1],
        patch_size=patch.shape[-1],
        embed_dim=patch.shape[0],
        depths=depths,
        num_heads=tuple(t.shape[1] for t in tables),
        window_size=windows[0],
        absolute_pos_embed=_SWIN + "absolute_pos_embed" in state_dict,
    )
    words = get(prefix + "embeddings.word_embeddings.weight")
    hidden = words.shape[1]
    layers = {
        int(m[1]) for k in state_dict if (m := re.match(re.escape(prefix) + r"encoder\.layer\.(\d+)\.", k))
    }
    fusion = {
        int(m[1])
        for k in state_dict
        if (m := re.match(re.escape(prefix) + r"encoder\.layer\.(\d+)\.crossattention\.", k))
    }
    n_text = len(layers) - len(fusion)
    if layers != set(range(len(layers))) or fusion != set(range(n_text, len(layers))):
        raise ValueError(
            f"text layers {sorted(layers)} with cross-attention in {sorted(fusion)}: ccrk needs text-only layers "
            "first, then fusion layers, numbered without gaps"
        )
    text = TextConfig(
        vocab_size=words.shape[0],
        hidden_size=hidden,
        num_attention_heads=text_heads or _text_heads(hidden),
        intermediate_size=get(prefix + "encoder.layer.0.intermediate.dense.weight").shape[0],
        num_text_layers=n_text,
        num_fusion_layers=len(fusion),
        max_position_embeddings=get(prefix + "embeddings.position_embeddings.weight").shape[0],
    )
    return CCRKConfig(vision=vision, text=text, embed_dim=get("vision_proj.weight").shape[0])


def _patch_grid(state_dict: dict, depths: tuple, windows: list[int]) -> int | None:
    """Side of the stage-0 patch grid, from the first of: the absolute position embedding [1, side^2, C]; a
    shifted block's attention mask [windows, w^2, w^2]; a stage whose window is cut to its side (Microsoft
    Swin makes a stage smaller than the window one window); in a file that kept its buffers, a stage of 2+
    blocks without a mask (one window). None: the shapes do not fix it."""
    ape = state_dict.get(_SWIN + "absolute_pos_embed")
    if ape is not None:
        return math.isqrt(ape.shape[1])
    for s, depth in enumerate(depths):
        for b in range(1, depth, 2):
            mask = state_dict.get(f"{_SWIN}layers.{s}.blocks.{b}.attn_mask")
            if mask is not None:
                return math.isqrt(mask.shape[0]) * windows[s] * 2**s
    for s, w in enumerate(windows):
        if w < windows[0]:
            return w * 2**s
    if any(k.endswith("attn.relative_position_index") for k in state_dict):  # saved by the original code
        for s, depth in enumerate(depths):
            if depth > 1:
                return windows[s] * 2**s
    return None


def _text_heads(hidden: int) -> int:
    """The text layers' head count, which no weight shape holds: XLM-R's 64-dim heads."""
    if hidden % 64:
        raise ValueError(
            f"model.text.num_attention_heads is not in the weights and width {hidden} is not a multiple of "
            "XLM-R's head size 64: give the head count (--text-heads)"
        )
    heads = hidden // 64
    (log.info if XLMR_HEADS.get(hidden) == heads else log.warning)(
        "text layers of width %d: %d heads assumed (64 each, as XLM-R; not stored in the weights; "
        "--text-heads gives another count)",
        hidden,
        heads,
    )
    return heads
