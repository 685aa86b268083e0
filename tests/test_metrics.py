"""Hand-computed checks of gold ranks (with ties), Recall@K, r_mean and MRV."""

import math

import numpy as np
import pytest

from ccrk.metrics import (
    fold_slices,
    gold_ranks,
    mean_metrics,
    mean_rank_variance,
    recall_at_k,
    retrieval_metrics,
)


def _ranks_by_argsort(scores, gold):
    # reference: position in a stable descending sort, min over golds
    out = []
    for row, g in zip(scores, gold):
        order = np.argsort(-row, kind="stable")
        pos = np.empty(len(row), dtype=np.int64)
        pos[order] = np.arange(len(row))
        out.append(min(pos[c] for c in g))
    return np.array(out)


def test_ties_break_by_lower_index():
    s = np.array([[1.0, 1.0, 0.0]])
    assert gold_ranks(s, [[1]]).tolist() == [1]
    assert gold_ranks(s, [[0]]).tolist() == [0]
    assert gold_ranks(s, [[2]]).tolist() == [2]


def test_minus_100_fill_ties_are_deterministic():
    # outside the top-k every candidate holds -100: ranks follow the candidate index
    s = np.array([[5.0, -100.0, -100.0, 3.0, -100.0]])
    assert gold_ranks(s, [[1]]).tolist() == [2]
    assert gold_ranks(s, [[2]]).tolist() == [3]
    assert gold_ranks(s, [[4]]).tolist() == [4]


def test_multi_gold_takes_min_rank():
    s = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 2.0, 1.0, 0.0]])
    # row 0 order: 1, 3, 2, 0 -> golds {0, 2} have ranks 3, 2
    assert gold_ranks(s, [[0, 2], [3, 1]]).tolist() == [2, 1]


def test_bare_int_gold_accepted():
    s = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert gold_ranks(s, [0, 0]).tolist() == [1, 0]


def test_matches_stable_argsort_on_random_ties():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 4, size=(300, 50)).astype(np.float32)  # many ties
    gold = [list(rng.choice(50, size=rng.integers(1, 6), replace=False)) for _ in range(300)]
    assert np.array_equal(gold_ranks(s, gold), _ranks_by_argsort(s, gold))


def test_gold_errors():
    s = np.zeros((2, 3))
    with pytest.raises(ValueError, match="no gold"):
        gold_ranks(s, [[0], []])
    with pytest.raises(ValueError, match="entries"):
        gold_ranks(s, [[0]])
    with pytest.raises(ValueError, match="outside"):
        gold_ranks(s, [[0], [3]])
    with pytest.raises(ValueError, match="2-D"):
        gold_ranks(np.zeros(3), [[0]])
    with pytest.raises(ValueError, match="NaN"):
        gold_ranks(np.array([[np.nan, 0.0]]), [[0]])


def test_recall_at_k():
    ranks = np.array([0, 1, 4, 5, 9, 10, 20, 0])
    r = recall_at_k(ranks)
    assert r == {"r1": 25.0, "r5": 50.0, "r10": 75.0}  # <1: 2, <5: 4, <10: 6 of 8
    assert recall_at_k(ranks, ks=(2,)) == {"r2": 37.5}


def test_retrieval_metrics_flat_dict():
    ir = np.array([0, 0, 3, 7])  # r1 50, r5 75, r10 100
    tr = np.array([1, 12])  # r1 0, r5 50, r10 50
    m = retrieval_metrics(ir, tr)
    assert set(m) == {"ir_r1", "ir_r5", "ir_r10", "tr_r1", "tr_r5", "tr_r10", "ir_mean", "tr_mean", "r_mean"}
    assert (m["ir_r1"], m["ir_r5"], m["ir_r10"]) == (50.0, 75.0, 100.0)
    assert (m["tr_r1"], m["tr_r5"], m["tr_r10"]) == (0.0, 50.0, 50.0)
    assert m["ir_mean"] == pytest.approx(75.0)
    assert m["tr_mean"] == pytest.approx(100.0 / 3)
    assert m["r_mean"] == pytest.approx((75.0 + 100.0 / 3) / 2)


def test_mrv_hand_computed():
    ranks = np.array([[0, 0, 0, 0], [0, 2, 4, 6]])
    # row 2: mean 3, squared deviations 9+1+1+9 = 20, /4 = 5
    assert mean_rank_variance(ranks) == pytest.approx(math.sqrt(5) / 2)
    assert mean_rank_variance(ranks) == pytest.approx(1.118033988)
    assert mean_rank_variance(ranks, reduce="var") == pytest.approx(2.5)
    assert mean_rank_variance(np.array([[1, 1], [3, 3]])) == 0.0


def test_mrv_errors():
    with pytest.raises(ValueError, match="2-D"):
        mean_rank_variance(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="at least 2 languages"):
        mean_rank_variance(np.zeros((5, 1)))
    with pytest.raises(ValueError, match="NaN"):
        mean_rank_variance(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="reduce"):
        mean_rank_variance(np.zeros((2, 2)), reduce="mean")
    with pytest.raises(ValueError, match="no items"):
        mean_rank_variance(np.zeros((0, 4)))


def test_fold_slices_match_ccrk_split():
    # CCRK: fold i covers [i * (n // 5), (i + 1) * (n // 5)), the last one takes the remainder
    assert fold_slices(5000, 5) == [
        range(0, 1000),
        range(1000, 2000),
        range(2000, 3000),
        range(3000, 4000),
        range(4000, 5000),
    ]
    assert fold_slices(12, 5) == [range(0, 2), range(2, 4), range(4, 6), range(6, 8), range(8, 12)]
    assert fold_slices(7, 1) == [range(0, 7)]
    with pytest.raises(ValueError, match="cannot split 3 images into 5 folds"):
        fold_slices(3, 5)
    with pytest.raises(ValueError, match="folds must be >= 1"):
        fold_slices(3, 0)


def test_mean_metrics_over_shared_keys():
    out = mean_metrics([{"r1": 10.0, "r5": 50.0, "x": 1.0}, {"r1": 20.0, "r5": 70.0}])
    assert out == {"r1": 15.0, "r5": 60.0}
    with pytest.raises(ValueError):
        mean_metrics([])
