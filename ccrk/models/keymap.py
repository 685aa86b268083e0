"""Key map between ccrk's state dict and the original CCLM/CCRK checkpoint layout, both ways.

The layout: docs/method.md#checkpoint-layout.

Original                                              ccrk
vision_encoder.<Microsoft Swin key>                   vision_encoder.swin.<timm key>
  layers.{s}.downsample.*  (patch merging ENDS s)       layers.{s+1}.downsample.*  (STARTS stage s+1)
text_encoder.bert.embeddings.*                        text_encoder.embeddings.*
text_encoder.bert.encoder.layer.{i}.*, i < n_text     text_encoder.encoder.layer.{i}.*
text_encoder.bert.encoder.layer.{i}.*, i >= n_text    fusion_encoder.layer.{i - n_text}.*
text_encoder.cls.predictions.{bias,transform.*}       mlm_head.{bias,dense.*,LayerNorm.*}
text_encoder.cls.predictions.decoder.{weight,bias}    tied: the word embeddings and mlm_head.bias
vision_proj, text_proj, temp, itm_head                the same
bbox_head.*                                           dropped (CCLM's box head; CCRK trains no grounding)
Fine-tuned originals (RetrievalModel) drop `bert.` and the MLM head. Buffers (relative_position_index,
attn_mask, position_ids) are recomputed by the model and never mapped.
"""

import re
from dataclasses import dataclass, field

import torch

PRETRAIN_TEXT = "text_encoder.bert."  # BertForMaskedLM in pretraining checkpoints
FINETUNED_TEXT = "text_encoder."  # BertModel in fine-tuned checkpoints
RECOMPUTED_BUFFERS = ("relative_position_index", "attn_mask", "position_ids")
# heads the original pretraining model builds and ccrk has no use for: XVLMBase(use_bbox_loss=True) in CCLM's
# and CCRK's pretraining models, so every released pretraining checkpoint carries bbox_head.*
DROPPED_HEADS = ("bbox_head.",)
_MLM = "text_encoder.cls.predictions."
_MLM_NAMES = {
    "bias": "bias",
    "transform.dense.weight": "dense.weight",
    "transform.dense.bias": "dense.bias",
    "transform.LayerNorm.weight": "LayerNorm.weight",
    "transform.LayerNorm.bias": "LayerNorm.bias",
}
# original copy -> the ccrk key it must equal
_TIED = {
    _MLM + "decoder.weight": "text_encoder.embeddings.word_embeddings.weight",
    _MLM + "decoder.bias": "mlm_head.bias",
}


@dataclass
class KeyReport:
    """What a file did not fit: empty for a well-formed one."""

    missing: list[str] = field(default_factory=list)  # target keys the file did not provide
    unexpected: list[str] = field(default_factory=list)  # file keys with no place in the target
    mismatched: list[str] = field(default_factory=list)  # "key: why" (shape, untied copy)
    dropped: list[str] = field(default_factory=list)  # file keys of DROPPED_HEADS, left out on purpose

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        if self.clean:
            return "all keys matched"
        parts = [
            f"{len(v)} {name}: {', '.join(v[:8])}{' ...' if len(v) > 8 else ''}"
            for name, v in (
                ("missing", self.missing),
                ("unexpected", self.unexpected),
                ("mismatched", self.mismatched),
            )
            if v
        ]
        return "; ".join(parts)


def is_recomputed_buffer(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in RECOMPUTED_BUFFERS


def text_prefix(state_dict: dict) -> str:
    """`text_encoder.bert.` for pretraining checkpoints, `text_encoder.` for fine-tuned ones."""
    return PRETRAIN_TEXT if any(k.startswith(PRETRAIN_TEXT) for k in state_dict) else FINETUNED_TEXT


def is_original_layout(state_dict: dict) -> bool:
    """True for the original's names (Microsoft Swin directly under vision_encoder.), False for ccrk's."""
    return any(
        k.startswith("vision_encoder.") and not k.startswith("vision_encoder.swin.") for k in state_dict
    )


def swin_from_microsoft(key: str) -> str:
    """Microsoft Swin key -> timm key (patch merging moves from the end of stage s to the start of s+1)."""
    m = re.match(r"layers\.(\d+)\.downsample\.(.*)", key)
    return f"layers.{int(m[1]) + 1}.downsample.{m[2]}" if m else key


def swin_to_microsoft(key: str) -> str:
    m = re.match(r"layers\.(\d+)\.downsample\.(.*)", key)
    return f"layers.{int(m[1]) - 1}.downsample.{m[2]}" if m else key


def bert_layer_to_ccrk(i: int, rest: str, n_text: int) -> str:
    """Layer i of the 12-layer BERT stack: text-only below n_text, fusion from n_text on."""
    if i < n_text:
        return f"text_encoder.encoder.layer.{i}.{rest}"
    return f"fusion_encoder.layer.{i - n_text}.{rest}"


def original_key_to_ccrk(key: str, n_text: int, prefix: str) -> str | None:
    """The ccrk key of an original key; None where it has none (the caller reports it)."""
    if key.startswith("vision_encoder."):
        return "vision_encoder.swin." + swin_from_microsoft(key[len("vision_encoder.") :])
    if key.startswith(_MLM):
        name = _MLM_NAMES.get(key[len(_MLM) :])
        return None if name is None else "mlm_head." + name
    if key.startswith(prefix):
        rest = key[len(prefix) :]
        if rest.startswith("embeddings."):
            return "text_encoder." + rest
        m = re.match(r"encoder\.layer\.(\d+)\.(.*)", rest)
        return bert_layer_to_ccrk(int(m[1]), m[2], n_text) if m else None
    if key.split(".")[0] in ("vision_proj", "text_proj", "temp", "itm_head"):
        return key
    return None


def ccrk_key_to_original(key: str, n_text: int, prefix: str) -> str:
    if key.startswith("vision_encoder.swin."):
        return "vision_encoder." + swin_to_microsoft(key[len("vision_encoder.swin.") :])
    if key.startswith("mlm_head."):
        return _MLM + {v: k for k, v in _MLM_NAMES.items()}[key[len("mlm_head.") :]]
    if key.startswith("text_encoder."):
        return prefix + key[len("text_encoder.") :]
    m = re.match(r"fusion_encoder\.layer\.(\d+)\.(.*)", key)
    if m:
        return f"{prefix}encoder.layer.{int(m[1]) + n_text}.{m[2]}"
    return key


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.is_meta or b.is_meta:  # shapes only: a meta tensor has no values
        return a.shape == b.shape
    return a is b or (a.shape == b.shape and torch.equal(a, b))


def original_to_ccrk(state_dict: dict, n_text: int) -> tuple[dict, KeyReport]:
    """Rename an original state dict to ccrk's keys; the report holds what has no place (missing is left
    to `check_against`, which knows the target)."""
    prefix = text_prefix(state_dict)
    out, report = {}, KeyReport()
    for key, value in state_dict.items():
        if is_recomputed_buffer(key):
            continue
        if key in _TIED:
            continue  # checked below, once both copies are known
        if key.startswith(DROPPED_HEADS):
            report.dropped.append(key)
            continue
        new = original_key_to_ccrk(key, n_text, prefix)
        if new is None:
            report.unexpected.append(key)
        else:
            out[new] = value
    for key, twin in _TIED.items():
        if key in state_dict and (twin not in out or not _same(state_dict[key], out[twin])):
            report.mismatched.append(f"{key}: differs from {twin} (ccrk ties the MLM decoder)")
    return out, report


def ccrk_to_original(state_dict: dict, n_text: int, finetuned: bool = False) -> dict:
    """ccrk keys -> the original layout: pretraining (`text_encoder.bert.` + MLM head with its tied decoder)
    or, with `finetuned`, RetrievalModel's (`text_encoder.`, no MLM head)."""
    prefix = FINETUNED_TEXT if finetuned else PRETRAIN_TEXT
    out = {}
    for key, value in state_dict.items():
        if finetuned and key.startswith("mlm_head."):
            continue
        out[ccrk_key_to_original(key, n_text, prefix)] = value
    if not finetuned:
        out[_MLM + "decoder.weight"] = state_dict["text_encoder.embeddings.word_embeddings.weight"]
        out[_MLM + "decoder.bias"] = state_dict["mlm_head.bias"]
    return out


def check_against(
    state_dict: dict, target_shapes: dict, report: KeyReport | None = None, optional: tuple[str, ...] = ()
) -> KeyReport:
    """Add to `report` the target keys absent from `state_dict` (bar those starting with `optional`),
    its keys the target lacks, and shape mismatches."""
    report = report or KeyReport()
    for key, shape in target_shapes.items():
        if key not in state_dict:
            if not key.startswith(optional):
                report.missing.append(key)
        elif tuple(state_dict[key].shape) != tuple(shape):
            report.mismatched.append(f"{key}: shape {tuple(state_dict[key].shape)}, model {tuple(shape)}")
    report.unexpected += [k for k in state_dict if k not in target_shapes]
    return report
