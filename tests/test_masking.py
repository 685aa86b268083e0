"""Invariants of the SPEC 3.5 MLM masker over many random token lists."""

import random

import pytest
import torch

from ccrk.data.masking import MaskingConfig, mask_batch, mask_ids, n_predictions

MASK, VOCAB, BOS, EOS, PAD = 250001, 250002, 0, 2, 1
CFG = MaskingConfig()


def _random_ids(rng: random.Random, length: int) -> list[int]:
    return [BOS] + [rng.randint(5, VOCAB - 1) for _ in range(length - 2)] + [EOS]


def test_defaults():
    assert (CFG.mask_prob, CFG.max_masks, CFG.skipgram_prob, CFG.skipgram_size) == (0.4, 12, 0.2, 3)


def test_n_predictions_formula():
    assert n_predictions(2, CFG) == 1  # round(0.8)
    assert n_predictions(3, CFG) == 1  # round(1.2)
    assert n_predictions(4, CFG) == 2  # round(1.6)
    assert n_predictions(10, CFG) == 4
    assert n_predictions(40, CFG) == 12  # capped


def test_mask_ids_invariants():
    data_rng, rng = random.Random(1), random.Random(2)
    n_masked = n_mask_token = 0
    for _ in range(2000):
        length = data_rng.randint(3, 40)
        ids = _random_ids(data_rng, length)
        out, pos, labels = mask_ids(ids, rng, MASK, VOCAB, CFG)
        assert len(out) == len(ids)
        assert pos == sorted(set(pos))
        assert 1 <= len(pos) <= 12
        assert len(pos) == min(12, max(1, round(0.4 * length)))
        assert all(0 < p < length for p in pos)
        assert labels == [ids[p] for p in pos]
        unmasked = set(range(length)) - set(pos)
        assert all(out[p] == ids[p] for p in unmasked)
        assert all(0 <= out[p] < VOCAB for p in pos)
        n_masked += len(pos)
        n_mask_token += sum(out[p] == MASK for p in pos)
    # ~13k positions: the mask-token share is 0.8 + 0.1/VOCAB, binomial sd ~0.0035
    assert n_masked > 10_000
    assert abs(n_mask_token / n_masked - 0.8) < 0.02


def test_eos_can_be_masked_bos_never():
    rng = random.Random(0)
    hits = 0
    for _ in range(500):
        _, pos, _ = mask_ids([BOS, 10, 11, EOS], rng, MASK, VOCAB, CFG)
        assert 0 not in pos
        hits += 3 in pos
    assert hits > 0


def test_mask_ids_rejects_too_short():
    with pytest.raises(ValueError):
        mask_ids([BOS], random.Random(0), MASK, VOCAB, CFG)


def _batch(seed: int, n: int = 64, max_len: int = 40):
    rng = random.Random(seed)
    ids = torch.full((n, max_len), PAD, dtype=torch.long)
    att = torch.zeros((n, max_len), dtype=torch.long)
    for i in range(n):
        row = _random_ids(rng, rng.randint(3, max_len))
        ids[i, : len(row)] = torch.tensor(row)
        att[i, : len(row)] = 1
    return ids, att


def test_mask_batch_invariants():
    ids, att = _batch(0)
    out, pos, labels = mask_batch(ids, att, random.Random(5), MASK, VOCAB, CFG)
    assert out.shape == ids.shape and pos.shape == labels.shape == (ids.shape[0], 12)
    assert pos.dtype == labels.dtype == torch.long
    lengths = att.sum(1)
    for i in range(ids.shape[0]):
        length = int(lengths[i])
        k = n_predictions(length, CFG)
        real_pos = pos[i, :k]
        assert (real_pos > 0).all() and (real_pos < length).all()
        assert (pos[i, k:] == 0).all() and (labels[i, k:] == -100).all()
        assert torch.equal(labels[i, :k], ids[i, real_pos])
        assert torch.equal(out[i, length:], ids[i, length:])  # padding untouched
        keep = torch.ones(ids.shape[1], dtype=torch.bool)
        keep[real_pos] = False
        assert torch.equal(out[i, keep], ids[i, keep])


def test_same_seed_same_output():
    ids, att = _batch(3)
    a = mask_batch(ids, att, random.Random(42), MASK, VOCAB, CFG)
    b = mask_batch(ids, att, random.Random(42), MASK, VOCAB, CFG)
    c = mask_batch(ids, att, random.Random(43), MASK, VOCAB, CFG)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_mask_batch_rejects_left_padding():
    ids, att = _batch(1, n=2)
    att[0] = att[0].flip(0)
    with pytest.raises(ValueError, match="right-padded"):
        mask_batch(ids, att, random.Random(0), MASK, VOCAB, CFG)
