"""What every model kind shares: image files decoded by loader workers, length-sorted text batches, autocast.

An encoder (one module per kind) provides `image_transform` (PIL image -> tensor or dict of tensors, run in
the loader workers), `encode_image_batch`, `encode_text_batch(texts, lang)`, `text_lengths`, `rank` and
`info()` (every choice that shapes its numbers, written into the results).
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ccrk.data.text import pre_caption
from ccrk.metrics import gold_ranks, retrieval_metrics
from ccrk.retrieval import Features, ImageFiles, RetrievalResult
from ccrk.zoo.spec import RunSettings

log = logging.getLogger("ccrk.zoo")


def normalise_text(text: str, how: str, max_words: int = 10**6) -> str:
    """The text normalisation a model was trained with: none, lower, or CCLM's pre_caption."""
    if how == "none":
        return text
    if how == "lower":
        return text.lower()
    if how == "pre_caption":
        return pre_caption(text, max_words)
    raise ValueError(f"unknown text normalisation {how!r}")


def autocast_dtype(settings: RunSettings) -> torch.dtype | None:
    """The GPU autocast dtype of `settings.precision`; None (fp32) on CPU, where half precision is slower."""
    if not str(settings.device).startswith("cuda") or settings.precision == "fp32":
        return None
    if settings.precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[settings.precision]


def autocast(settings: RunSettings):
    dtype = autocast_dtype(settings)
    return torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()


def to_device(batch, device):
    """A tensor or a dict of tensors (transformers' processors return several) on `device`."""
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    return batch.to(device)


def _float(f: Features) -> Features:
    # fp16/bf16 autocast outputs: ranks and the ITM fusion run in fp32
    return Features(
        None if f.tokens is None else f.tokens.float(),
        f.mask,
        F.normalize(f.feat.float(), dim=-1),
    )


def _pad_cat(parts: list[torch.Tensor | None], pad_value=0) -> torch.Tensor | None:
    """Concatenate [n, L_i, ...] batches padded on dim 1 to the longest (text states of length-sorted batches)."""
    if parts[0] is None:
        return None
    width = max(p.shape[1] for p in parts)
    padded = [
        F.pad(p, (0, 0) * (p.dim() - 2) + (0, width - p.shape[1]), value=pad_value)
        if p.shape[1] < width
        else p
        for p in parts
    ]
    return torch.cat(padded)


@torch.no_grad()
def encode_images(encoder, sources, settings: RunSettings) -> Features:
    """Every image (path or encoded bytes) once, decoded and transformed by `settings.num_workers` workers."""
    loader = DataLoader(
        ImageFiles(sources, encoder.image_transform),
        batch_size=settings.batch_size,
        num_workers=settings.num_workers,
        pin_memory=str(settings.device).startswith("cuda"),
        persistent_workers=False,
    )
    parts = []
    for batch in loader:
        with autocast(settings):
            parts.append(_float(encoder.encode_image_batch(to_device(batch, settings.device))))
    return Features(_pad_cat([p.tokens for p in parts]), None, torch.cat([p.feat for p in parts]))


@torch.no_grad()
def encode_texts(encoder, texts: list[str], lang: str, settings: RunSettings) -> Features:
    """Every caption once, in batches of similar length (less padding), returned in the input order."""
    if not texts:
        raise ValueError(f"{lang}: no captions to encode")
    order = np.argsort(np.asarray(encoder.text_lengths(texts, lang)), kind="stable")
    parts = []
    for s in range(0, len(texts), settings.batch_size):
        rows = order[s : s + settings.batch_size]
        with autocast(settings):
            parts.append(_float(encoder.encode_text_batch([texts[i] for i in rows], lang)))
    inverse = torch.as_tensor(np.argsort(order, kind="stable"))
    feat = torch.cat([p.feat for p in parts])[inverse]
    tokens = _pad_cat([p.tokens for p in parts])
    mask = _pad_cat([p.mask for p in parts])
    return Features(
        None if tokens is None else tokens[inverse],
        None if mask is None else mask[inverse],
        feat,
    )


def dual_encoder_ranks(images: Features, texts: Features, txt2img, img2txt) -> RetrievalResult:
    """Gold ranks from cosine similarities (one matrix product); images without a caption have no TR rank."""
    sim = (images.feat.float() @ texts.feat.float().t()).cpu().numpy()
    has_text = np.array([len(g) > 0 for g in img2txt])
    ir = gold_ranks(sim.T, [[i] for i in txt2img])
    tr = np.full(len(img2txt), -1, dtype=np.int64)
    tr[has_text] = gold_ranks(sim[has_text], [g for g in img2txt if g])
    metrics = retrieval_metrics(ir, tr[has_text])
    metrics.update(n_images=len(img2txt), n_texts=len(txt2img))
    return RetrievalResult(ir, tr, metrics)


class DualEncoder:
    """Defaults of the dual-encoder kinds: ranks by cosine similarity, lengths by characters."""

    spec = None

    def text_lengths(self, texts: list[str], lang: str) -> list[int]:
        return [len(t) for t in texts]  # characters: a sort key as good as tokens, without tokenizing twice

    def rank(self, images: Features, texts: Features, txt2img, img2txt) -> RetrievalResult:
        return dual_encoder_ranks(images, texts, txt2img, img2txt)

    def scorings(self) -> list[str]:
        """The rankings written for this model: a dual encoder has one (cosine similarity)."""
        return ["itc"]
