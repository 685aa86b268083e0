"""Invariants of the docs/method.md#masked-language-modelling MLM masker over many random token lists."""

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


class _ScriptedRandom(random.Random):
    """Shuffles nothing and answers random()/randint() from fixed scripts, so the masker's steps are hand-checkable."""

    def __init__(self, floats, ints, shuffles=None):
        super().__init__(0)
        self.floats, self.ints, self.shuffles = list(floats), list(ints), list(shuffles or [])

    def shuffle(self, x):
        if self.shuffles:
            x[:] = self.shuffles.pop(0)

    def random(self):
        return self.floats.pop(0)

    def randint(self, a, b):
        value = self.ints.pop(0)
        assert a <= value <= b
        return value


def test_skipgram_span_then_single_then_80_10_10_by_hand():
    ids = [BOS, 11, 12, 13, 14, 15, 16, 17, 18, EOS]  # 10 tokens: n = round(4.0) = 4
    # candidates in order 1..9: pos 1 draws 0.1 < 0.2, an n-gram of randint(2, 3) = 3 -> {1, 2, 3};
    # 2 and 3 are taken; pos 4 draws 0.5 -> single {4}; 4 masks. Then per position: 0.5 -> [mask];
    # 0.85, 0.3 -> random id 7; 0.85, 0.7 -> unchanged; 0.79 -> [mask]
    rng = _ScriptedRandom(floats=[0.1, 0.5, 0.5, 0.85, 0.3, 0.85, 0.7, 0.79], ints=[3, 7])
    out, pos, labels = mask_ids(ids, rng, MASK, VOCAB, CFG)
    assert pos == [1, 2, 3, 4] and labels == [11, 12, 13, 14]
    assert out == [BOS, MASK, 7, 13, MASK, 15, 16, 17, 18, EOS]
    assert not rng.floats and not rng.ints  # the original's order of draws, no more, no less


def test_span_stops_at_the_end_and_overflow_is_cut_back_to_n():
    ids = [BOS, 11, 12, EOS]  # n = round(1.6) = 2; candidates shuffled to [3, 1, 2]
    # pos 3 (</s>) starts a 3-gram: 3 is kept, 4 and 5 lie past the text (break) -> {3}; pos 1 starts a
    # 3-gram {1, 2, 3} -> 3 masked > n = 2: shuffled to [2, 3, 1], the first two kept
    rng = _ScriptedRandom(floats=[0.0, 0.0, 0.9, 0.9, 0.9, 0.9], ints=[3, 3], shuffles=[[3, 1, 2], [2, 3, 1]])
    out, pos, labels = mask_ids(ids, rng, MASK, VOCAB, CFG)
    assert pos == [2, 3] and labels == [12, EOS]
    assert out == ids  # both drew 0.9 then 0.9: left unchanged (the 10 %)


def test_replacement_shares_are_80_10_10():
    data_rng, rng = random.Random(7), random.Random(8)
    counts = {"mask": 0, "random": 0, "same": 0}
    for _ in range(3000):
        ids = _random_ids(data_rng, data_rng.randint(10, 40))
        out, pos, _ = mask_ids(ids, rng, MASK, VOCAB, CFG)
        for p in pos:
            counts["mask" if out[p] == MASK else "same" if out[p] == ids[p] else "random"] += 1
    total = sum(counts.values())  # ~25k positions: binomial sd <= 0.003
    assert total > 20_000
    assert abs(counts["mask"] / total - 0.8) < 0.015
    assert abs(counts["random"] / total - 0.1) < 0.01 and abs(counts["same"] / total - 0.1) < 0.01


def test_skipgram_probability_and_size_shape_the_spans():
    def neighbour_share(skipgram_prob, skipgram_size=3):
        cfg = MaskingConfig(mask_prob=0.1, skipgram_prob=skipgram_prob, skipgram_size=skipgram_size)
        data_rng, rng, near = random.Random(1), random.Random(2), 0
        n = 0
        for _ in range(1500):  # 40 tokens, 4 masks: a masked neighbour is rare unless spans put it there
            _, pos, _ = mask_ids(_random_ids(data_rng, 40), rng, MASK, VOCAB, cfg)
            near += sum((p - 1 in pos) or (p + 1 in pos) for p in pos)
            n += len(pos)
        return near / n

    # measured 0.16 / 0.41 / 0.82; with 2-grams only, two spans fill the 4 masks exactly: 0.98
    assert neighbour_share(0.0) < 0.2
    assert 0.35 < neighbour_share(0.2) < 0.5
    assert neighbour_share(1.0) > 0.75
    assert neighbour_share(1.0, skipgram_size=2) > 0.95


def _random_caption(rng: random.Random) -> str:
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz",
        "абвгдежзиклмнопрстуф",
        "的一是不了人我在有他这中大来上",
        "あいうえおかきくけこさしすせそ",
    ]
    letters = rng.choice(alphabets)
    return " ".join("".join(rng.choices(letters, k=rng.randint(1, 9))) for _ in range(rng.randint(1, 45)))


def test_collator_masks_many_random_captions_within_the_spec(tiny_tokenizer):
    from ccrk.data.pretrain_dataset import PretrainCollator
    from ccrk.data.text import pre_caption

    tok, rng, k = tiny_tokenizer, random.Random(11), 10
    collate = PretrainCollator(tok, max_tokens=40, max_words=40, masking=CFG, seed=5)
    n_rows = n_eos_masked = 0
    for _ in range(20):
        batch = [(torch.zeros(3, 4, 4), [_random_caption(rng) for _ in range(k)]) for _ in range(6)]
        out = collate(batch)
        ids, att, pos, labels = (
            out["input_ids"],
            out["attention_mask"],
            out["masked_pos"],
            out["masked_labels"],
        )
        assert ids.shape[0] == 6 * k and ids.shape[1] <= 40 and out["k"] == k
        for row in range(ids.shape[0]):
            length = int(att[row].sum())
            image, lang = divmod(row, k)  # image-major: row b*K + k is image b in language k
            alone = tok(pre_caption(batch[image][1][lang], 40), truncation=True, max_length=40)["input_ids"]
            assert ids[row, :length].tolist() == alone
            n = n_predictions(length, CFG)
            assert (pos[row, n:] == 0).all() and (labels[row, n:] == -100).all()
            real = pos[row, :n]
            assert (real >= 1).all() and (real < length).all() and len(set(real.tolist())) == n
            assert torch.equal(labels[row, :n], ids[row, real])
            changed = (out["masked_ids"][row] != ids[row]).nonzero().flatten().tolist()
            assert set(changed) <= set(real.tolist())
            n_eos_masked += int((real == length - 1).any())
            n_rows += 1
    assert n_rows == 1200 and n_eos_masked > 0  # </s> may be masked, <s> never
