"""State dicts in exactly the original CCLM/CCRK key layout, at any size, for the key-map tests.

Written from docs/method.md#checkpoint-layout and the original modules (Microsoft Swin, the xbert BERT of
CCLM), not from
ccrk.models.keymap: names, shapes, the persistent buffers and the tied MLM decoder as torch.save wrote them.
"""

from dataclasses import dataclass

import torch


@dataclass
class Dims:
    image_res: int = 224
    patch: int = 4
    embed: int = 128  # Swin stage-0 width
    depths: tuple = (2, 2, 18, 2)
    heads: tuple = (4, 8, 16, 32)
    window: int = 7
    hidden: int = 1024  # XLM-R-large
    intermediate: int = 4096
    vocab: int = 250002
    max_pos: int = 514
    layers: int = 12
    fusion_from: int = 6
    embed_dim: int = 256

    @property
    def vision_width(self) -> int:
        return self.embed * 2 ** (len(self.depths) - 1)


TINY = Dims(
    image_res=32,
    patch=4,
    embed=8,
    depths=(2, 2),
    heads=(1, 2),
    window=4,
    hidden=64,
    intermediate=128,
    vocab=40,
    max_pos=20,
    layers=4,
    fusion_from=2,
    embed_dim=16,
)


def swin_shapes(d: Dims) -> dict:
    """Microsoft Swin (models/swin_transformer.py) state dict: name -> (shape, dtype)."""
    f, i64 = torch.float32, torch.int64
    out = {
        "patch_embed.proj.weight": ((d.embed, 3, d.patch, d.patch), f),
        "patch_embed.proj.bias": ((d.embed,), f),
        "patch_embed.norm.weight": ((d.embed,), f),
        "patch_embed.norm.bias": ((d.embed,), f),
    }
    for s, (depth, heads) in enumerate(zip(d.depths, d.heads)):
        c = d.embed * 2**s
        side = d.image_res // d.patch // 2**s
        w = min(d.window, side)  # Microsoft Swin: a stage smaller than the window is one window, unshifted
        for b in range(depth):
            p = f"layers.{s}.blocks.{b}."
            out |= {
                p + "norm1.weight": ((c,), f),
                p + "norm1.bias": ((c,), f),
                p + "attn.relative_position_bias_table": (((2 * w - 1) ** 2, heads), f),
                p + "attn.relative_position_index": ((w * w, w * w), i64),
                p + "attn.qkv.weight": ((3 * c, c), f),
                p + "attn.qkv.bias": ((3 * c,), f),
                p + "attn.proj.weight": ((c, c), f),
                p + "attn.proj.bias": ((c,), f),
                p + "norm2.weight": ((c,), f),
                p + "norm2.bias": ((c,), f),
                p + "mlp.fc1.weight": ((4 * c, c), f),
                p + "mlp.fc1.bias": ((4 * c,), f),
                p + "mlp.fc2.weight": ((c, 4 * c), f),
                p + "mlp.fc2.bias": ((c,), f),
            }
            if b % 2 and side > w:  # shifted window blocks keep their mask as a buffer
                out[p + "attn_mask"] = (((side // w) ** 2, w * w, w * w), f)
        if s < len(d.depths) - 1:  # patch merging at the END of stage s
            p = f"layers.{s}.downsample."
            out |= {
                p + "reduction.weight": ((2 * c, 4 * c), f),
                p + "norm.weight": ((4 * c,), f),
                p + "norm.bias": ((4 * c,), f),
            }
    out |= {"norm.weight": ((d.vision_width,), f), "norm.bias": ((d.vision_width,), f)}
    return out


def original_shapes(d: Dims, finetuned: bool = False, bbox_head: bool = False) -> dict:
    """The whole XVLM state dict (pretraining: BertForMaskedLM; fine-tuned: BertModel, no MLM head).

    `bbox_head`: CCLM's and CCRK's pretraining models build it always (XVLMBase(use_bbox_loss=True)), so their
    released pretraining checkpoints carry it: build_mlp(text_width, 4).
    """
    f, i64 = torch.float32, torch.int64
    h, v = d.hidden, d.vision_width
    out = {"vision_encoder." + k: s for k, s in swin_shapes(d).items()}
    t = "text_encoder." if finetuned else "text_encoder.bert."
    out |= {
        t + "embeddings.position_ids": ((1, d.max_pos), i64),
        t + "embeddings.word_embeddings.weight": ((d.vocab, h), f),
        t + "embeddings.position_embeddings.weight": ((d.max_pos, h), f),
        t + "embeddings.token_type_embeddings.weight": ((1, h), f),
        t + "embeddings.LayerNorm.weight": ((h,), f),
        t + "embeddings.LayerNorm.bias": ((h,), f),
    }
    for i in range(d.layers):
        p = f"{t}encoder.layer.{i}."
        blocks = ["attention"] + (["crossattention"] if i >= d.fusion_from else [])
        for blk in blocks:
            kv = v if blk == "crossattention" else h  # cross-attention keys/values read the image tokens
            out |= {
                p + f"{blk}.self.query.weight": ((h, h), f),
                p + f"{blk}.self.query.bias": ((h,), f),
                p + f"{blk}.self.key.weight": ((h, kv), f),
                p + f"{blk}.self.key.bias": ((h,), f),
                p + f"{blk}.self.value.weight": ((h, kv), f),
                p + f"{blk}.self.value.bias": ((h,), f),
                p + f"{blk}.output.dense.weight": ((h, h), f),
                p + f"{blk}.output.dense.bias": ((h,), f),
                p + f"{blk}.output.LayerNorm.weight": ((h,), f),
                p + f"{blk}.output.LayerNorm.bias": ((h,), f),
            }
        out |= {
            p + "intermediate.dense.weight": ((d.intermediate, h), f),
            p + "intermediate.dense.bias": ((d.intermediate,), f),
            p + "output.dense.weight": ((h, d.intermediate), f),
            p + "output.dense.bias": ((h,), f),
            p + "output.LayerNorm.weight": ((h,), f),
            p + "output.LayerNorm.bias": ((h,), f),
        }
    if not finetuned:
        c = "text_encoder.cls.predictions."
        out |= {
            c + "bias": ((d.vocab,), f),
            c + "transform.dense.weight": ((h, h), f),
            c + "transform.dense.bias": ((h,), f),
            c + "transform.LayerNorm.weight": ((h,), f),
            c + "transform.LayerNorm.bias": ((h,), f),
            c + "decoder.weight": ((d.vocab, h), f),
            c + "decoder.bias": ((d.vocab,), f),
        }
    out |= {
        "vision_proj.weight": ((d.embed_dim, v), f),
        "vision_proj.bias": ((d.embed_dim,), f),
        "text_proj.weight": ((d.embed_dim, h), f),
        "text_proj.bias": ((d.embed_dim,), f),
        "temp": ((), f),
        "itm_head.0.weight": ((2 * h, h), f),
        "itm_head.0.bias": ((2 * h,), f),
        "itm_head.1.weight": ((2 * h,), f),
        "itm_head.1.bias": ((2 * h,), f),
        "itm_head.3.weight": ((2, 2 * h), f),
        "itm_head.3.bias": ((2,), f),
    }
    if bbox_head:
        out |= {
            "bbox_head.0.weight": ((2 * h, h), f),
            "bbox_head.0.bias": ((2 * h,), f),
            "bbox_head.1.weight": ((2 * h,), f),
            "bbox_head.1.bias": ((2 * h,), f),
            "bbox_head.3.weight": ((4, 2 * h), f),
            "bbox_head.3.bias": ((4,), f),
        }
    return out


def materialise(shapes: dict, seed: int = 0, device: str = "cpu") -> dict:
    """Random float weights, integer buffers, and the MLM decoder tied to the word embeddings (one tensor)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, (shape, dtype) in shapes.items():
        if device == "meta":
            out[key] = torch.empty(shape, dtype=dtype, device="meta")
        elif dtype == torch.int64:
            out[key] = torch.arange(int(torch.tensor(shape).prod())).reshape(shape) % 7
        else:
            out[key] = torch.randn(shape, generator=g)
    for key in list(out):
        if key.endswith("cls.predictions.decoder.weight"):
            out[key] = out["text_encoder.bert.embeddings.word_embeddings.weight"]
        if key.endswith("cls.predictions.decoder.bias"):
            out[key] = out["text_encoder.cls.predictions.bias"]
    return out


def original_state_dict(
    d: Dims = TINY, finetuned: bool = False, seed: int = 0, device: str = "cpu", bbox_head: bool = False
) -> dict:
    return materialise(original_shapes(d, finetuned, bbox_head), seed, device)
