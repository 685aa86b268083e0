"""Retrieval metrics: exact gold ranks, Recall@K, CCLM-style r_mean, and MRV.

Definitions: docs/method.md#recall-metrics and docs/method.md#mrv.

Ranks are 0-based positions in a *stable* descending sort of the scores: on equal scores the lower candidate
index comes first. The original `itm_eval` used a non-stable argsort, so ranks among tied candidates (the -100
fill outside the top-k) were arbitrary; here they are exact and reproducible (docs/method.md#exact-ranks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# golds compared per block when counting ranks; bounds memory to about _CHUNK x n_candidates booleans
_CHUNK = 1024


def _flatten_gold(gold: Sequence, n_queries: int, n_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn a ragged gold list into parallel (query index, candidate index) arrays, validating every entry."""
    if len(gold) != n_queries:
        raise ValueError(f"gold has {len(gold)} entries but scores has {n_queries} query rows")
    q_idx: list[int] = []
    c_idx: list[int] = []
    for q, g in enumerate(gold):
        # a bare int is accepted as a single gold (e.g. a txt2img list)
        cands = [g] if isinstance(g, (int, np.integer)) and not isinstance(g, bool) else list(g)
        if not cands:
            raise ValueError(f"query {q} has no gold candidate")
        for c in cands:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
                raise ValueError(f"query {q}: gold candidate must be an int, got {type(c).__name__} {c!r}")
            if not 0 <= c < n_candidates:
                raise ValueError(f"query {q}: gold candidate {c} outside [0, {n_candidates})")
            q_idx.append(q)
            c_idx.append(int(c))
    return np.asarray(q_idx, dtype=np.int64), np.asarray(c_idx, dtype=np.int64)


def gold_ranks(scores: np.ndarray, gold: Sequence[Sequence[int]]) -> np.ndarray:
    """0-based rank of the best gold candidate of each query under a stable descending sort of `scores`.

    rank(q, c) = #{j: s[q, j] > s[q, c]} + #{j < c: s[q, j] == s[q, c]}, i.e. the position of c in
    `np.argsort(-s[q], kind="stable")`; the query's rank is the minimum over its gold candidates.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [n_queries, n_candidates], got shape {scores.shape}")
    if scores.shape[1] == 0:
        raise ValueError("scores has no candidate columns")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        raise ValueError("scores contain NaN; ranks would be undefined")
    n_q, n_c = scores.shape
    q_idx, c_idx = _flatten_gold(gold, n_q, n_c)
    gold_scores = scores[q_idx, c_idx]
    cand = np.arange(n_c)
    per_gold = np.empty(len(q_idx), dtype=np.int64)
    for s in range(0, len(q_idx), _CHUNK):
        q, c, g = q_idx[s : s + _CHUNK], c_idx[s : s + _CHUNK], gold_scores[s : s + _CHUNK, None]
        rows = scores[q]
        greater = (rows > g).sum(axis=1)
        # equal scores at a lower index come first in a stable descending sort
        ties_before = ((rows == g) & (cand[None, :] < c[:, None])).sum(axis=1)
        per_gold[s : s + _CHUNK] = greater + ties_before
    ranks = np.full(n_q, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(ranks, q_idx, per_gold)
    return ranks


def recall_at_k(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """{"r1": 100 * mean(ranks < 1), ...} for each k in ks."""
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0:
        raise ValueError(f"ranks must be a non-empty 1-D array, got shape {ranks.shape}")
    return {f"r{k}": float(100.0 * np.mean(ranks < k)) for k in ks}


def retrieval_metrics(
    ir_ranks: np.ndarray, tr_ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Flat CCLM `itm_eval` dict: ir_r{k} (text->image), tr_r{k} (image->text), ir_mean, tr_mean, r_mean."""
    ir = recall_at_k(ir_ranks, ks)
    tr = recall_at_k(tr_ranks, ks)
    out = {f"ir_{k}": v for k, v in ir.items()}
    out.update({f"tr_{k}": v for k, v in tr.items()})
    out["ir_mean"] = float(np.mean(list(ir.values())))
    out["tr_mean"] = float(np.mean(list(tr.values())))
    out["r_mean"] = (out["ir_mean"] + out["tr_mean"]) / 2.0
    return out


def mean_rank_variance(ranks: np.ndarray, reduce: str = "std") -> float:
    """MRV: per item the population std (ddof 0) of its ranks across languages, averaged over items.

    `ranks` is [n_items, n_langs] with row i the same instance in every language. reduce="std" matches
    CCRK's `analysis_ranks` (np.std); reduce="var" averages the variance instead.
    """
    if reduce not in ("std", "var"):
        raise ValueError(f"reduce must be 'std' or 'var', got {reduce!r}")
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim != 2:
        raise ValueError(f"ranks must be 2-D [n_items, n_langs], got shape {ranks.shape}")
    if ranks.shape[0] == 0:
        raise ValueError("ranks has no items (0 rows)")
    if ranks.shape[1] < 2:
        raise ValueError(f"MRV needs at least 2 languages (columns), got {ranks.shape[1]}")
    if np.isnan(ranks).any():
        raise ValueError("ranks contain NaN (a language is missing a rank for some item)")
    per_item = ranks.var(axis=1, ddof=0) if reduce == "var" else ranks.std(axis=1, ddof=0)
    return float(per_item.mean())


def fold_slices(n: int, folds: int) -> list[range]:
    """CCRK's k-fold test split: fold i is [i*(n//k), (i+1)*(n//k)), the last one takes the remainder."""
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    if n < folds:
        raise ValueError(f"cannot split {n} images into {folds} folds")
    size = n // folds
    return [range(i * size, n if i == folds - 1 else (i + 1) * size) for i in range(folds)]


def mean_metrics(per_fold: Sequence[dict[str, float]]) -> dict[str, float]:
    """Key-wise mean of metric dicts (e.g. the 5 folds of the COCO 5k test), over the keys all of them share."""
    if not per_fold:
        raise ValueError("no metric dicts to average")
    keys = [k for k in per_fold[0] if all(k in m for m in per_fold)]
    return {k: float(np.mean([m[k] for m in per_fold])) for k in keys}
