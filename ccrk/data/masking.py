"""MLM masking: X-VLM/CCLM's `TextMaskingGenerator` (mask_whole_word=False) ported to token ids.

The rule is docs/method.md#masked-language-modelling.

All randomness comes from an explicit `random.Random`, consumed in the same order as the original
(shuffle candidates, per candidate skip-gram draw, optional shuffle of the overflow, per position 80/10/10).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch


@dataclass
class MaskingConfig:
    mask_prob: float = 0.4  # share of the (unpadded) tokens to predict, before the max_masks cap
    max_masks: int = 12  # cap on predictions per text; also the padded width of masked_pos / labels
    skipgram_prob: float = 0.2  # chance that a masked span is an n-gram instead of one token
    skipgram_size: int = 3  # longest n-gram span (spans are 2..skipgram_size tokens)


def n_predictions(length: int, cfg: MaskingConfig) -> int:
    """Number of tokens to mask in a text of `length` tokens (including <s> and </s>)."""
    return min(cfg.max_masks, max(1, int(round(length * cfg.mask_prob))))


def mask_ids(
    ids: list[int], rng: random.Random, mask_token_id: int, vocab_size: int, cfg: MaskingConfig
) -> tuple[list[int], list[int], list[int]]:
    """Mask one unpadded token list `[<s>, ..., </s>]`.

    Returns (masked ids, sorted masked positions, original ids at those positions). Position 0 (<s>) is never
    masked; </s> can be, as in the original.
    """
    if len(ids) < 2:
        raise ValueError(f"need at least 2 tokens (<s> ... </s>) to mask, got {len(ids)}")
    n_pred = n_predictions(len(ids), cfg)
    special_pos = {0}
    cand_pos = list(range(1, len(ids)))
    rng.shuffle(cand_pos)
    max_cand_pos = len(ids) - 1
    masked: set[int] = set()
    for pos in cand_pos:
        if len(masked) >= n_pred:
            break
        if pos in masked:
            continue
        if cfg.skipgram_prob > 0 and cfg.skipgram_size >= 2 and rng.random() < cfg.skipgram_prob:
            end = pos + rng.randint(2, cfg.skipgram_size)
        else:
            end = pos + 1
        for p in range(pos, end):
            # a span stops at the first position past the text (the original's `break`)
            if 0 < p <= max_cand_pos and p not in special_pos:
                masked.add(p)
            else:
                break
    # set order is an implementation detail: sort before any random choice so results depend on the seed only
    masked_pos = sorted(masked)
    if len(masked_pos) > n_pred:
        rng.shuffle(masked_pos)
        masked_pos = sorted(masked_pos[:n_pred])
    out = list(ids)
    for p in masked_pos:
        if rng.random() < 0.8:
            out[p] = mask_token_id
        elif rng.random() < 0.5:
            out[p] = rng.randint(0, vocab_size - 1)  # any vocabulary id, specials included, as the original
    labels = [ids[p] for p in masked_pos]
    return out, masked_pos, labels


def mask_batch(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    rng: random.Random,
    mask_token_id: int,
    vocab_size: int,
    cfg: MaskingConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask every row of a right-padded batch; the real length of a row is the sum of its attention mask.

    Returns masked_input_ids [N, L], masked_pos [N, max_masks] (padded with 0) and masked_labels
    [N, max_masks] (padded with -100, ignored by cross-entropy).
    """
    if input_ids.shape != attention_mask.shape or input_ids.dim() != 2:
        raise ValueError(
            f"input_ids {tuple(input_ids.shape)} and attention_mask {tuple(attention_mask.shape)}: "
            "expected two 2-D tensors of the same shape"
        )
    n, seq_len = input_ids.shape
    lengths = attention_mask.long().sum(dim=1)
    # right padding only: a row's mask must be ones then zeros, else the real length is ambiguous
    prefix = torch.arange(seq_len, device=attention_mask.device)[None, :] < lengths[:, None]
    if not torch.equal(prefix, attention_mask.bool()):
        raise ValueError("attention_mask must be right-padded (ones followed by zeros) in every row")
    ids_cpu = input_ids.detach().cpu().tolist()
    pos, labels = [], []
    for i, length in enumerate(lengths.tolist()):  # rows edited as lists: one tensor each at the end
        row, mpos, mlab = mask_ids(ids_cpu[i][:length], rng, mask_token_id, vocab_size, cfg)
        ids_cpu[i][:length] = row
        pos.append(mpos + [0] * (cfg.max_masks - len(mpos)))
        labels.append(mlab + [-100] * (cfg.max_masks - len(mlab)))
    masked_ids = torch.tensor(ids_cpu, dtype=input_ids.dtype, device=input_ids.device)
    pos = torch.tensor(pos, dtype=torch.long).view(
        n, cfg.max_masks
    )  # view: a batch of 0 rows keeps its shape
    labels = torch.tensor(labels, dtype=torch.long).view(n, cfg.max_masks)
    return masked_ids, pos.to(input_ids.device), labels.to(input_ids.device)
