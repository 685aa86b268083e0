"""Two-stage retrieval: ITC top-k candidates, re-ranked by the ITM logit, exact ranks.

The procedure: docs/method.md#two-stage-retrieval.

Every (query, candidate) pair of the top-k is fused in large batches across queries. Candidates
outside the top-k are ordered by their ITC similarity below all top-k ones, so every rank is exact
(the original leaves them tied at -100 in arbitrary order).
"""

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ccrk.data.images import open_image
from ccrk.data.text import pre_caption
from ccrk.metrics import gold_ranks, retrieval_metrics

log = logging.getLogger("ccrk.retrieval")


@dataclass
class Features:
    tokens: (
        torch.Tensor | None
    )  # [N, L, W] image tokens or text hidden states (fusion input); None: dual encoder
    mask: torch.Tensor | None  # [N, L] text attention mask (None for images: all tokens valid)
    feat: torch.Tensor  # [N, D] normalised contrastive features


class ImageFiles(Dataset):
    """Image files (or encoded bytes) opened and transformed one by one, in DataLoader workers."""

    def __init__(self, sources, transform):
        self.sources, self.transform = sources, transform

    def __len__(self):
        return len(self.sources)

    def __getitem__(self, i):
        return self.transform(open_image(self.sources[i]))


@torch.no_grad()
def encode_images(model, paths, transform, batch_size: int, device, num_workers: int = 0) -> Features:
    """Encode images (file paths or encoded bytes) once; the result is shared by every language of a test set."""
    tokens, feats = [], []
    for images in DataLoader(ImageFiles(paths, transform), batch_size=batch_size, num_workers=num_workers):
        out = model.encode_image(images.to(device))
        tokens.append(out.tokens)
        feats.append(out.feat)
    return Features(torch.cat(tokens), None, torch.cat(feats))


@torch.no_grad()
def encode_texts(
    model,
    tokenizer,
    texts,
    batch_size: int,
    max_tokens: int,
    max_words: int,
    device,
    pad_to_max: bool = False,
) -> Features:
    """Encode captions once; padded to the longest caption of the set so that batches concatenate.

    pad_to_max=True pads to max_tokens instead, as the original does (only to reproduce its cost).
    """
    texts = [pre_caption(t, max_words) for t in texts]
    width = (
        max_tokens
        if pad_to_max
        else max(len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_tokens)["input_ids"])
    )
    hidden, masks, feats = [], [], []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[i : i + batch_size],
            padding="max_length",
            truncation=True,
            max_length=width,
            return_tensors="pt",
        ).to(device)
        out = model.encode_text(enc["input_ids"], enc["attention_mask"])
        hidden.append(out.hidden)
        masks.append(out.mask)
        feats.append(out.feat)
    return Features(torch.cat(hidden), torch.cat(masks), torch.cat(feats))


def subset(features: Features, idx) -> Features:
    """The rows `idx` of cached features (e.g. one fold of a 5-fold test set), without re-encoding."""
    idx = torch.as_tensor(idx, dtype=torch.long, device=features.feat.device)
    return Features(
        None if features.tokens is None else features.tokens[idx],
        None if features.mask is None else features.mask[idx],
        features.feat[idx],
    )


KV_BUDGET_BYTES = 512 * 2**20  # cached image keys/values held at once (paper scale: about 75 images)


def image_block_size(
    n_layers: int, n_tokens: int, hidden: int, bytes_per_value: int, budget_bytes: int
) -> int:
    """Images whose cross-attention keys and values (every fusion layer) fit in budget_bytes; at least 1."""
    return max(1, budget_bytes // (n_layers * 2 * n_tokens * hidden * bytes_per_value))


@torch.no_grad()
def itm_scores(
    model,
    images: Features,
    texts: Features,
    image_idx,
    text_idx,
    batch_size: int,
    kv_budget_bytes: int = KV_BUDGET_BYTES,
) -> torch.Tensor:
    """ITM match logit (class 1, not a softmax) of the pairs (image_idx[i], text_idx[i]), batched.

    What does not depend on the pair is computed once, not once per pair: each text's first fusion layer
    self-attention and cross-attention query, and each image's cross-attention keys and values in every
    layer, for one block of images at a time (kv_budget_bytes bounds the block). Within a block the pairs
    run by text length, so that each batch is padded only to its own longest text.
    """
    dev = images.tokens.device
    image_idx, text_idx = torch.as_tensor(image_idx, device=dev), torch.as_tensor(text_idx, device=dev)
    out = torch.zeros(len(image_idx), device=dev)
    if not len(image_idx):
        return out
    fusion, t = model.fusion_encoder, model.cfg.text
    used_texts, text_row = text_idx.unique(return_inverse=True)
    mask = texts.mask[used_texts].to(dev)
    width = int(mask.sum(dim=1).max())  # the longest caption of these texts
    mask, hidden = mask[:, :width], texts.tokens[used_texts, :width]
    prefix = [
        fusion.text_prefix(hidden[s : s + batch_size], mask[s : s + batch_size], first_only=True)
        for s in range(0, len(mask), batch_size)
    ]
    prefix = torch.cat([x for x, _ in prefix]), torch.cat([q for _, q in prefix])
    block = image_block_size(
        t.num_fusion_layers,
        images.tokens.shape[1],
        t.hidden_size,
        images.tokens.element_size(),
        kv_budget_bytes,
    )
    image_block = image_idx // block
    order = (image_block * (width + 1) + mask.sum(dim=1)[text_row]).argsort(stable=True)
    for b in image_block.unique().tolist():
        rows = order[image_block[order] == b]  # this block's pairs, by text length
        kv = fusion.image_kv(images.tokens[b * block : (b + 1) * block])
        for s in range(0, len(rows), batch_size):
            r = rows[s : s + batch_size]
            ii, ti = image_idx[r] - b * block, text_row[r]
            out[r] = model.itm_logits(
                None,
                mask[ti],
                None,
                image_kv=[(k[ii], v[ii]) for k, v in kv],
                prefix=(prefix[0][ti], prefix[1][ti]),
            )[:, 1].float()
    return out


def rerank_scores(itc: torch.Tensor, topk_idx: torch.Tensor, itm: torch.Tensor) -> torch.Tensor:
    """Full [Q, C] scores: the top-k by ITM logit, all above the rest, which keep their ITC order."""
    itc = itc.float()
    # per row, so that a query's scores never depend on the other queries of its batch
    lift = (itc.max(dim=1, keepdim=True).values - itm.min(dim=1, keepdim=True).values).clamp(min=0) + 1.0
    return itc.scatter(1, topk_idx, itm.float() + lift)


def two_stage_scores(
    model,
    images: Features,
    texts: Features,
    k_test: int,
    batch_size: int,
    kv_budget_bytes: int = KV_BUDGET_BYTES,
):
    """(i2t [N_img, N_txt], t2i [N_txt, N_img], itc [N_img, N_txt]) re-ranked score matrices.

    The top-k pairs of both directions are fused once each: a pair that is a candidate both ways (a
    mutual near neighbour, common in a good model) has one ITM logit, so it is computed once. The unique
    pairs are fused by `itm_scores` (per-image and per-text parts cached, length-sorted batches).
    """
    itc = images.feat.float() @ texts.feat.float().t()
    n_img, n_txt = itc.shape
    k_txt, k_img = min(k_test, n_txt), min(k_test, n_img)
    top_i2t = itc.topk(k_txt, dim=1).indices  # [N_img, k] candidate texts of each image
    top_t2i = itc.t().topk(k_img, dim=1).indices  # [N_txt, k] candidate images of each text
    dev = itc.device
    img_idx = torch.cat([torch.arange(n_img, device=dev).repeat_interleave(k_txt), top_t2i.reshape(-1)])
    txt_idx = torch.cat([top_i2t.reshape(-1), torch.arange(n_txt, device=dev).repeat_interleave(k_img)])
    pairs, where = torch.unique(img_idx * n_txt + txt_idx, return_inverse=True)
    itm = itm_scores(model, images, texts, pairs // n_txt, pairs % n_txt, batch_size, kv_budget_bytes).to(
        dev
    )[where]
    i2t = rerank_scores(itc, top_i2t, itm[: n_img * k_txt].view(n_img, k_txt))
    t2i = rerank_scores(itc.t(), top_t2i, itm[n_img * k_txt :].view(n_txt, k_img))
    return i2t, t2i, itc


@torch.no_grad()
def per_query_scores(model, images: Features, texts: Features, k_test: int, trim: bool = True):
    """Reference for `two_stage_scores`: the original's loop, one fusion pass per query.

    See docs/method.md#two-stage-retrieval.

    Slow by design (N_img + N_txt passes of k pairs); the tests and bench/eval_speed.py check the batched
    version against it. trim=False fuses the texts at their full padded width, as the original does.
    """

    def itm(h, m, img):
        return model.itm_logits(h, m, img) if trim else model.itm_head(model.fuse(h, m, img)[:, 0])

    itc = images.feat.float() @ texts.feat.float().t()
    i2t, t2i = torch.empty_like(itc), torch.empty_like(itc.t())
    k_txt, k_img = min(k_test, itc.shape[1]), min(k_test, itc.shape[0])
    for i in range(itc.shape[0]):
        top = itc[i].topk(k_txt).indices
        logit = itm(texts.tokens[top], texts.mask[top], images.tokens[i].expand(k_txt, -1, -1))[:, 1]
        i2t[i] = rerank_scores(itc[i : i + 1], top[None], logit[None].float())[0]
    for j in range(itc.shape[1]):
        top = itc[:, j].topk(k_img).indices
        logit = itm(
            texts.tokens[j].expand(k_img, -1, -1), texts.mask[j].expand(k_img, -1), images.tokens[top]
        )[:, 1]
        t2i[j] = rerank_scores(itc.t()[j : j + 1], top[None], logit[None].float())[0]
    return i2t, t2i, itc


@dataclass
class RetrievalResult:
    ir_ranks: np.ndarray  # [n_texts] 0-based rank of each caption's image
    tr_ranks: np.ndarray  # [n_images] 0-based rank of each image's best caption; -1 when it has none
    metrics: dict  # flat: ir_r1 ... r_mean, plus itc_* for the dual-encoder ranking
    itc_ir_ranks: np.ndarray | None = (
        None  # the same from the ITC (dual-encoder) scores alone, when re-ranked
    )
    itc_tr_ranks: np.ndarray | None = None


def evaluate_retrieval(
    model,
    tokenizer,
    image_paths,
    texts,
    txt2img,
    img2txt,
    transform,
    *,
    k_test: int,
    max_tokens: int,
    max_words: int,
    device,
    batch_size: int = 64,
    fusion_batch_size: int = 256,
    image_features: Features | None = None,
) -> RetrievalResult:
    """Rank every caption against every image and back; metrics over images that have a caption.

    `image_features` (of exactly `image_paths`) lets the languages of one test set share one image pass.
    """
    model.eval()
    img = (
        image_features
        if image_features is not None
        else encode_images(model, image_paths, transform, batch_size, device)
    )
    txt = encode_texts(model, tokenizer, texts, batch_size, max_tokens, max_words, device)
    return rank_features(model, img, txt, txt2img, img2txt, k_test, fusion_batch_size)


def rank_features(
    model, img: Features, txt: Features, txt2img, img2txt, k_test: int, fusion_batch_size: int = 256
) -> RetrievalResult:
    """Gold ranks and metrics of already encoded images and texts (img2txt: gold texts per image, maybe empty)."""
    i2t, t2i, itc = two_stage_scores(model, img, txt, k_test, fusion_batch_size)
    has_text = np.array([len(g) > 0 for g in img2txt])
    gold_i2t = [g for g in img2txt if g]
    ir = gold_ranks(t2i.cpu().numpy(), [[i] for i in txt2img])
    tr = np.full(len(img2txt), -1, dtype=np.int64)
    tr[has_text] = gold_ranks(i2t.cpu().numpy()[has_text], gold_i2t)
    metrics = retrieval_metrics(ir, tr[has_text])
    itc_np = itc.cpu().numpy()
    itc_ir = gold_ranks(itc_np.T, [[i] for i in txt2img])
    itc_tr = np.full(len(img2txt), -1, dtype=np.int64)
    itc_tr[has_text] = gold_ranks(itc_np[has_text], gold_i2t)
    dual = retrieval_metrics(itc_ir, itc_tr[has_text])
    metrics.update({f"itc_{k}": v for k, v in dual.items()})
    metrics.update(n_images=len(img2txt), n_texts=len(txt2img), k_test=k_test)
    return RetrievalResult(ir, tr, metrics, itc_ir, itc_tr)
