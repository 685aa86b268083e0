"""Look-alike batches: word features, runs of similar captions, and the sampler that deals them to ranks whole."""

import math

import numpy as np
import pytest

from ccrk import train
from ccrk.data.lookalike import caption_features, lookalike_order, same_text_ids
from ccrk.pretrain import lookalike_permutation
from ccrk.train import EpochSampler

# three families of scenes; inside each, captions differ in one word (colour, shape or place)
FAMILIES = [
    [
        "a red circle on the left",
        "a red square on the left",
        "a red circle on the right",
        "a red cross on the left",
    ],
    [
        "two blue triangles at the top",
        "two blue squares at the top",
        "two blue triangles at the bottom",
        "two green triangles at the top",
    ],
    [
        "a large white star in the centre",
        "a small white star in the centre",
        "a large yellow star in the centre",
        "a large white moon in the centre",
    ],
]


def test_caption_features_weigh_words_by_inverse_document_frequency():
    items = [["a red circle", "un cercle rouge"], ["a red square"], ["a blue square", "unique"]]
    x = caption_features(items)
    # words in 2+ items: a (3), red (2), square (2); "circle", "blue", "un", ... appear once and are left out
    idf = {"a": math.log(3 / 3), "red": math.log(3 / 2), "square": math.log(3 / 2)}
    expected = np.array(
        [[idf["a"], idf["red"], 0.0], [idf["a"], idf["red"], idf["square"]], [idf["a"], 0.0, idf["square"]]]
    )
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert x.shape == (3, 3)
    # the column order is the vocabulary's: compare through the item-by-item cosine matrix
    np.testing.assert_allclose(x @ x.T, expected @ expected.T, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-6)


def test_runs_are_families_of_look_alikes():
    items = [[c] for family in FAMILIES for c in family]
    x = caption_features(items)
    family_of = {i: i // 4 for i in range(12)}
    for seed in range(20):
        order = lookalike_order(x, 4, np.random.default_rng(seed))
        assert sorted(order) == list(range(12))
        runs = [order[i : i + 4] for i in range(0, 12, 4)]
        assert all(len({family_of[i] for i in run}) == 1 for run in runs), (seed, runs)
    orders = {tuple(lookalike_order(x, 4, np.random.default_rng(s))) for s in range(20)}
    assert len(orders) > 1  # the runs' heads and order are drawn
    assert lookalike_order(x, 4, np.random.default_rng(3)) == lookalike_order(x, 4, np.random.default_rng(3))


def test_a_run_takes_no_second_copy_of_a_text_while_others_are_near():
    items = [["a red circle on the left"]] * 4 + [
        ["a red square on the left"],
        ["a red square on the right"],
        ["a red circle on the right"],
        ["a green circle on the right"],
    ]
    x, ids = caption_features(items), same_text_ids(items)
    assert ids.tolist() == [0, 0, 0, 0, 1, 2, 3, 4]
    for seed in range(10):
        order = lookalike_order(x, 4, np.random.default_rng(seed), ids)
        # 4 copies and 4 others in 2 runs of 4: the first run formed holds at most one copy (all 8 are in its
        # shortlist), so the copies split 1 + 3 or 0 + 4, never 2 + 2
        copies = sorted(sum(i < 4 for i in run) for run in (order[:4], order[4:]))
        assert copies in ([1, 3], [0, 4]), (seed, order)
    # without text ids a run headed by a copy takes the other copies, its nearest of all
    most = [
        max(sum(i < 4 for i in run) for run in (o[:4], o[4:]))
        for o in (lookalike_order(x, 4, np.random.default_rng(seed)) for seed in range(10))
    ]
    assert 4 in most


def test_short_runs_come_last_so_batches_hold_whole_runs():
    items = [[c] for family in FAMILIES for c in family] + [["a red circle on the left and a moon"]]
    x = caption_features(items)
    for seed in range(10):
        order = lookalike_order(x, 4, np.random.default_rng(seed))
        assert sorted(order) == list(range(13))
        # 13 items in runs of 4: three full runs of 4, then the run of the one item left over
        runs = [order[i : i + 4] for i in range(0, 12, 4)]
        assert all(len(run) == 4 for run in runs) and len(order[12:]) == 1
    with pytest.raises(ValueError, match="group"):
        lookalike_order(x, 0, np.random.default_rng(0))


def test_sampler_deals_whole_batches_to_ranks_and_equal_steps(monkeypatch):
    perm = list(range(20))[::-1]  # batches of 4: [19..16], [15..12], [11..8], [7..4], [3..0]

    def permutation(seed):
        return list(perm)

    for r in range(2):
        monkeypatch.setattr(train, "rank", lambda r=r: r)
        monkeypatch.setattr(train, "world_size", lambda: 2)
        got = EpochSampler(20, 4, seed=0, epoch=0, permutation=permutation).indices()
        # 5 batches over 2 ranks: rank 0 gets batches 0, 2 (and 4, cut: every rank runs (20 // 2) // 4 = 2 steps)
        assert got == (perm[0:4] + perm[8:12] if r == 0 else perm[4:8] + perm[12:16])
        resumed = EpochSampler(20, 4, seed=0, epoch=0, start_batch=1, permutation=permutation).indices()
        assert resumed == got[4:]


def test_random_batches_give_every_rank_the_same_number_of_steps(monkeypatch):
    # 63 items over 2 ranks in batches of 32: rank 0 holds 32 of the permutation, rank 1 31; a rank that ran a
    # step the other cannot would hang the gradient all-reduce
    lengths = []
    for r in range(2):
        monkeypatch.setattr(train, "rank", lambda r=r: r)
        monkeypatch.setattr(train, "world_size", lambda: 2)
        lengths.append(len(EpochSampler(63, 32, seed=0, epoch=0).indices()))
    assert lengths == [0, 0]


def test_pretraining_permutation_needs_a_group_that_divides_the_batch():
    class Item:
        def __init__(self, text):
            self.captions = [text]

    items = [Item(c) for family in FAMILIES for c in family]
    assert lookalike_permutation(items, 0, 8) is None and lookalike_permutation(items, 1, 8) is None
    with pytest.raises(ValueError, match="lookalike_group 3 must divide pretrain.batch_size 8"):
        lookalike_permutation(items, 3, 8)
    order = lookalike_permutation(items, 4, 8)(7)
    assert sorted(order) == list(range(12))
