"""CCRK / CCLM objectives (docs/method.md#losses): 1-to-K contrastive, ITC, ITM with hard samples, MLM.

Plain functions over features, similarities and logits; none of them imports the model. Texts of a
1-to-K batch are image-major: text b*K + k is image b in language k.
"""

import torch
import torch.nn.functional as F

_EPS = 1e-5  # the original adds this to sampling weights so that no row is all zero


def one_to_k_contrastive_loss(
    image_feat: torch.Tensor, text_feat: torch.Tensor, temp, k: int, divisor: float | None = None
) -> torch.Tensor:
    """1-to-K contrastive loss: every image meets all K captions of every image.

    Formulas: docs/method.md#one-to-k-contrastive-loss.

    image_feat [N, D] and text_feat [N*K, D] are L2-normalised (already gathered across ranks).
    i2t sums the log-probabilities of the K own captions over a softmax over all N*K texts; t2i is
    a plain CE over the N images per text; the mean of both is divided by `divisor` (None: K, as
    the code's `need_divm=0`; a negative value: no division).
    """
    n = image_feat.shape[0]
    if text_feat.shape[0] != n * k:
        raise ValueError(f"text_feat has {text_feat.shape[0]} rows, expected N*K = {n}*{k}")
    if divisor == 0:
        raise ValueError("divisor must be None (K), positive, or negative (no division)")
    logits = image_feat @ text_feat.t() / temp  # [N, N*K]
    own = torch.arange(n, device=logits.device).repeat_interleave(k)  # image of each text
    i2t_logp = logits.log_softmax(dim=1)
    positives = own.view(n, k) * k + torch.arange(k, device=logits.device)  # [N, K] text indices
    loss_i2t = -i2t_logp.gather(1, positives).sum(dim=1).mean()
    loss_t2i = F.cross_entropy(logits.t(), own)
    d = float(k) if divisor is None else (float(divisor) if divisor > 0 else 1.0)
    return (loss_i2t + loss_t2i) / 2 / d


def image_text_contrastive_loss(
    image_feat: torch.Tensor, text_feat: torch.Tensor, temp, idx: torch.Tensor | None = None
) -> torch.Tensor:
    """CCLM ITC (docs/method.md#itc): symmetric InfoNCE; with `idx`, every pair of the same image is positive."""
    logits = image_feat @ text_feat.t() / temp  # [N, N]
    if idx is None:
        target = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    idx = idx.view(-1, 1)
    pos = (idx == idx.t()).float()
    pos = pos / pos.sum(dim=1, keepdim=True)  # soft targets, row-normalised
    loss_i2t = -(F.log_softmax(logits, dim=1) * pos).sum(dim=1).mean()
    loss_t2i = -(F.log_softmax(logits.t(), dim=1) * pos).sum(dim=1).mean()
    return (loss_i2t + loss_t2i) / 2


def hard_negative_indices(
    sim_i2t: torch.Tensor,
    sim_t2i: torch.Tensor,
    same_image: torch.Tensor,
    generator=None,
    same_image_t2i: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CCLM hard negatives: one draw per direction over the whole batch, no loop over samples.

    Sampling rule: docs/method.md#itm-with-hard-samples.

    sim_i2t [B, T] and sim_t2i [T, B] are temperature-scaled similarities; same_image [B, T] marks
    pairs that must never be drawn as negatives. sim_t2i may hold only some texts' rows [R, B], with
    same_image_t2i [R, B] their mask. Returns (negative text per image [B], negative image per text row).
    """
    with torch.no_grad():
        w_i2t = (F.softmax(sim_i2t.float(), dim=1) + _EPS).masked_fill(same_image, 0)
        mask_t2i = same_image.t() if same_image_t2i is None else same_image_t2i
        w_t2i = (F.softmax(sim_t2i.float(), dim=1) + _EPS).masked_fill(mask_t2i, 0)
        neg_text = sample_rows(_checked(w_i2t, "image", "text"), generator)
        neg_image = sample_rows(_checked(w_t2i, "text", "image"), generator)
    return neg_text, neg_image


def sample_rows(weights: torch.Tensor, generator=None) -> torch.Tensor:
    """One index per row, drawn with probability proportional to the row's weights, in one vectorised draw.

    Inverse CDF: the distribution of torch.multinomial(weights, 1), several times faster on CPU; zero weights
    are never drawn.
    """
    cdf = weights.cumsum(dim=1)
    u = torch.rand(
        weights.shape[0],
        1,
        generator=generator,
        dtype=cdf.dtype,
        device=generator.device if generator is not None else weights.device,
    )
    picks = torch.searchsorted(cdf, u.to(cdf.device) * cdf[:, -1:], right=True).squeeze(1)
    return picks.clamp_(max=weights.shape[1] - 1)  # u * total rounding up to total


def _checked(weights: torch.Tensor, row: str, col: str) -> torch.Tensor:
    if (weights.sum(dim=1) <= 0).any():
        raise ValueError(
            f"a {row} has no possible negative {col}: the batch needs at least two distinct images"
        )
    return weights


def hard_positive_languages(
    sim_i2t: torch.Tensor, k: int, sample_type: int = 1, generator=None
) -> torch.Tensor:
    """CCRK hard-positive language sampler (docs/method.md#itm-with-hard-samples step 1), vectorised over the batch.

    sim_i2t [B, B*K] holds the temperature-scaled local similarities (image-major texts). Type 1
    (default) draws language k of image b with probability proportional to M - softmax weight of
    its own caption, type 2 to max(s) - s, type 0 uniformly. Returns the chosen text index b*K+k.
    """
    b = sim_i2t.shape[0]
    with torch.no_grad():
        own = sim_i2t.float().view(b, b, k)[torch.arange(b), torch.arange(b)]  # [B, K] own-caption sims
        if sample_type == 0:
            weights = torch.ones_like(own)
        elif sample_type == 1:
            w = F.softmax(sim_i2t.float(), dim=1) + _EPS
            weights = w.max() + _EPS - w.view(b, b, k)[torch.arange(b), torch.arange(b)]
        elif sample_type == 2:
            weights = sim_i2t.float().max() + _EPS - own
        else:
            raise ValueError(f"sample_type must be 0, 1 or 2, got {sample_type}")
        lang = sample_rows(weights, generator)
    return torch.arange(b, device=sim_i2t.device) * k + lang.to(sim_i2t.device)


def negative_sims(sim: torch.Tensor, hard: bool | float) -> torch.Tensor:
    """The similarities negatives are drawn by: sim itself (True, 1), zeros (False, 0: uniform) or sim * hard.

    A scale below 1 flattens the softmax of the draw: the negatives are still the similar ones more often,
    but less so (an ITM learning from scratch gets easier ones).
    """
    if not 0 <= float(hard) <= 1:
        raise ValueError(f"hard_negatives must be a boolean or a number in [0, 1], got {hard!r}")
    if float(hard) == 1:
        return sim
    return torch.zeros_like(sim) if float(hard) == 0 else sim * float(hard)


def hardness_at(hard, step: int, total: int, key: str = "itm_hard_negatives") -> bool | float:
    """The ITM negatives' hardness at optimizer step `step` (0-based) of a stage of `total` steps.

    A boolean or a number in [0, 1] holds for the whole stage (`negative_sims`); a pair [start, end] of numbers
    in [0, 1] is a curriculum ramped linearly from start at step 0 to end at the last step (total - 1).
    A bad value raises a ValueError naming `key`.
    """
    if isinstance(hard, bool):
        return hard
    if isinstance(hard, (int, float)) and 0 <= hard <= 1:
        return float(hard)
    if (
        isinstance(hard, (list, tuple))
        and len(hard) == 2
        and all(isinstance(h, (int, float)) and not isinstance(h, bool) and 0 <= h <= 1 for h in hard)
    ):
        start, end = float(hard[0]), float(hard[1])
        return start + (end - start) * min(1.0, max(0, step) / max(1, total - 1))
    raise ValueError(
        f"{key} must be a boolean, a number in [0, 1] or a pair [start, end] of them, got {hard!r}"
    )


def one_to_k_hard_samples(
    sim_i2t: torch.Tensor,
    k: int,
    sample_type: int = 1,
    generator=None,
    hard_negatives: bool | float = True,
    exclude: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CCRK ITM sampling: hard positive text per image, then negatives for those pairs.

    Sampling rule: docs/method.md#itm-with-hard-samples.

    Returns (positive text [B], negative image for the positive text [B], negative text [B]); the
    negative text may be in any language, never one of the image's own K captions. Three draws in all,
    whatever B: the negative images are drawn for the B positive texts only, not for all B*K.
    hard_negatives=False draws the negatives uniformly among the other images (the positive stays hard); a
    number in (0, 1) scales the similarities first (`negative_sims`): negatives between uniform and hard.
    exclude [B, B*K]: further (image, text) pairs never drawn as negatives in either direction (`same_text_pairs`).
    """
    b = sim_i2t.shape[0]
    pos_text = hard_positive_languages(sim_i2t, k, sample_type, generator)
    own = torch.arange(b, device=sim_i2t.device)
    same_image = own.repeat_interleave(k).view(1, -1) == own.view(-1, 1)  # [B, B*K]
    if exclude is not None:
        same_image = same_image | exclude
    neg_sim = negative_sims(sim_i2t, hard_negatives)
    neg_text, neg_image = hard_negative_indices(
        neg_sim, neg_sim.t()[pos_text], same_image, generator, same_image_t2i=same_image.t()[pos_text]
    )
    return pos_text, neg_image, neg_text


def same_text_pairs(input_ids: torch.Tensor, k: int = 1) -> torch.Tensor:
    """[N, N*K] (image, text) pairs where the text's tokens equal those of one of the image's own K captions.

    Texts image-major as in a 1-to-K batch (K = 1: one caption per item, fine-tuning); padded rows of one batch
    compare equal exactly when the captions do. Such a text is no negative for the image: it describes it.
    """
    n = input_ids.shape[0] // k
    equal = (input_ids.unsqueeze(1) == input_ids.unsqueeze(0)).all(dim=-1)  # [N*K, N*K]
    return equal.view(n, k, n * k).any(dim=1)


def itm_loss(itm_logits: torch.Tensor, n_pos: int) -> torch.Tensor:
    """2-way CE over fused pairs laid out as [n_pos positives; the rest negatives] (label 1 = match)."""
    labels = torch.zeros(itm_logits.shape[0], dtype=torch.long, device=itm_logits.device)
    labels[:n_pos] = 1
    return F.cross_entropy(itm_logits, labels)


def mlm_loss(token_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CE over the vocabulary at the masked positions; label -100 (padding) is ignored."""
    return F.cross_entropy(
        token_logits.reshape(-1, token_logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100
    )


def weighted_losses(parts: dict[str, torch.Tensor], weights: dict[str, float]) -> dict[str, torch.Tensor]:
    """Each named loss times its weight (the training loop sums them); every loss must have a weight."""
    missing = set(parts) - set(weights)
    if missing:
        raise KeyError(f"no weight for the losses {sorted(missing)}")
    return {name: value * weights[name] for name, value in parts.items()}
