"""The CCRK objectives against the formulas of docs/method.md#losses written out as plain loops."""

import math

import pytest
import torch
import torch.nn.functional as F

from ccrk import losses


def _feats(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g), dim=-1)


def _one_to_k_by_loop(v, t, temp, k, divisor):
    """docs/method.md#one-to-k-contrastive-loss term by term: s(i; j,k) = v_i . t_{j,k} / temp, texts image-major."""
    n = v.shape[0]
    s = lambda i, j, kk: float(v[i] @ t[j * k + kk]) / temp  # noqa: E731
    l_i2t = 0.0
    for i in range(n):
        denom = sum(math.exp(s(i, j, ll)) for j in range(n) for ll in range(k))
        l_i2t -= sum(math.log(math.exp(s(i, i, kk)) / denom) for kk in range(k))
    l_i2t /= n
    l_t2i = 0.0
    for j in range(n):
        for kk in range(k):
            denom = sum(math.exp(s(i, j, kk)) for i in range(n))
            l_t2i -= math.log(math.exp(s(j, j, kk)) / denom)
    l_t2i /= n * k
    return (l_i2t + l_t2i) / 2 / divisor


@pytest.mark.parametrize("n,k", [(3, 1), (4, 3), (5, 10)])
def test_one_to_k_matches_the_formula(n, k):
    v, t = _feats(n, seed=n), _feats(n * k, seed=100 + k)
    got = losses.one_to_k_contrastive_loss(v, t, 0.07, k)
    assert got.item() == pytest.approx(_one_to_k_by_loop(v, t, 0.07, k, divisor=k), rel=1e-5)


def test_one_to_k_divisor_options():
    v, t = _feats(4), _feats(12, seed=1)
    base = losses.one_to_k_contrastive_loss(v, t, 0.1, 3, divisor=-1)  # no division
    assert losses.one_to_k_contrastive_loss(v, t, 0.1, 3).item() == pytest.approx(base.item() / 3)
    assert losses.one_to_k_contrastive_loss(v, t, 0.1, 3, divisor=2).item() == pytest.approx(base.item() / 2)
    with pytest.raises(ValueError):
        losses.one_to_k_contrastive_loss(v, t, 0.1, 3, divisor=0)
    with pytest.raises(ValueError, match="N\\*K"):
        losses.one_to_k_contrastive_loss(v, t[:11], 0.1, 3)


def test_k1_is_cclm_itc():
    v, t = _feats(6), _feats(6, seed=3)
    one = losses.one_to_k_contrastive_loss(v, t, 0.05, 1)
    itc = losses.image_text_contrastive_loss(v, t, 0.05)
    assert one.item() == pytest.approx(itc.item(), rel=1e-6)


def test_itc_with_idx_uses_soft_targets_over_same_image_pairs():
    v, t = _feats(4), _feats(4, seed=7)
    idx = torch.tensor([0, 0, 1, 2])  # rows 0 and 1 are the same image
    logits = v @ t.t() / 0.1
    pos = torch.tensor([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    expected = (
        -(logits.log_softmax(1) * pos).sum(1).mean() - (logits.t().log_softmax(1) * pos).sum(1).mean()
    ) / 2
    assert losses.image_text_contrastive_loss(v, t, 0.1, idx).item() == pytest.approx(
        expected.item(), rel=1e-6
    )
    # distinct ids give back the plain InfoNCE
    plain = losses.image_text_contrastive_loss(v, t, 0.1)
    assert losses.image_text_contrastive_loss(v, t, 0.1, torch.arange(4)).item() == pytest.approx(
        plain.item()
    )


def test_hard_negatives_never_sample_the_same_image():
    g = torch.Generator().manual_seed(0)
    idx = torch.tensor([0, 0, 1, 1, 2, 3])
    same = idx.view(-1, 1) == idx.view(1, -1)
    sim = torch.randn(6, 6, generator=g) * 5
    for _ in range(50):
        neg_text, neg_image = losses.hard_negative_indices(sim, sim.t(), same, generator=g)
        assert not same[torch.arange(6), neg_text].any()
        assert not same[neg_image, torch.arange(6)].any()


def test_hard_negatives_follow_similarity():
    """The most similar wrong text is drawn far more often than a dissimilar one."""
    g = torch.Generator().manual_seed(1)
    sim = torch.tensor([[0.0, 5.0, -5.0], [5.0, 0.0, -5.0], [-5.0, 5.0, 0.0]])
    same = torch.eye(3, dtype=torch.bool)
    picks = torch.stack([losses.hard_negative_indices(sim, sim.t(), same, g)[0] for _ in range(400)])
    assert (picks[:, 0] == 1).float().mean() > 0.95


def test_hard_negatives_need_two_images():
    with pytest.raises(ValueError, match="two distinct images"):
        losses.hard_negative_indices(torch.zeros(2, 2), torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.bool))


def test_hard_positive_picks_an_own_caption_and_prefers_the_weakest_language():
    b, k = 4, 3
    sim = torch.zeros(b, b * k)
    for i in range(b):
        sim[i, i * k : i * k + k] = torch.tensor([10.0, 10.0, -10.0])  # language 2 is the one ranked low
    g = torch.Generator().manual_seed(0)
    for sample_type in (0, 1, 2):
        pos = torch.stack([losses.hard_positive_languages(sim, k, sample_type, g) for _ in range(200)])
        assert ((pos // k) == torch.arange(b)).all()  # always one of the image's own captions
        share_weak = (pos % k == 2).float().mean().item()
        if sample_type == 0:
            assert 0.2 < share_weak < 0.47  # uniform: about 1/3
        else:
            assert share_weak > 0.45  # inverse weighting prefers the low-ranked language
    with pytest.raises(ValueError):
        losses.hard_positive_languages(sim, k, 3)


def test_one_to_k_hard_samples_are_valid():
    b, k = 5, 4
    g = torch.Generator().manual_seed(2)
    sim = torch.randn(b, b * k, generator=g)
    pos, neg_img, neg_txt = losses.one_to_k_hard_samples(sim, k, 1, g)
    assert ((pos // k) == torch.arange(b)).all()
    assert (neg_img != torch.arange(b)).all()  # the negative image of text p(b) is not image b
    assert (
        (neg_txt // k) != torch.arange(b)
    ).all()  # the negative text is no caption of image b, any language


def test_itm_loss_labels_first_third_positive():
    logits = torch.tensor([[0.0, 9.0], [9.0, 0.0], [9.0, 0.0]])
    assert losses.itm_loss(logits, n_pos=1).item() < 1e-3
    assert losses.itm_loss(logits.flip(1), n_pos=1).item() > 5


def test_mlm_loss_ignores_padding():
    logits = torch.zeros(1, 3, 5)
    logits[0, 0, 2] = 20.0
    labels = torch.tensor([[2, -100, -100]])
    assert losses.mlm_loss(logits, labels).item() < 1e-6


def _original_sampling_weights(sim: torch.Tensor, k: int, sample_type: int):
    """CCRK get_unialign_matching_loss written per sample, as the original loops: (positive language [B, K],
    negative text [B, B*K] given image b, negative image [B*K, B] given text t), all unnormalised."""
    b = sim.shape[0]
    w_i2t = F.softmax(sim, dim=1) + 1e-5
    w_t2i = F.softmax(sim.t(), dim=1) + 1e-5
    max_weight, max_sim = w_i2t.max() + 1e-5, sim.max() + 1e-5
    pos = torch.zeros(b, k)
    for i in range(b):
        if sample_type == 0:
            pos[i] = 1.0
        elif sample_type == 1:
            pos[i] = max_weight - w_i2t[i, i * k : i * k + k]
        else:
            pos[i] = max_sim - sim[i, i * k : i * k + k]
    for i in range(b):
        w_i2t[i, i * k : i * k + k] = 0
        w_t2i[i * k : i * k + k, i] = 0
    return pos, w_i2t, w_t2i


def _frequencies(draws: torch.Tensor, n: int) -> torch.Tensor:
    """draws [R, B] of category ids -> [B, n] empirical frequencies."""
    return torch.stack([torch.bincount(col, minlength=n) for col in draws.t()]).float() / draws.shape[0]


@pytest.fixture
def one_thread():
    """Thousands of calls on tiny tensors: a second torch thread only adds synchronisation (slow on a busy host)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("sample_type", [0, 1, 2])
def test_hard_samples_follow_the_original_per_sample_distributions(sample_type, one_thread):
    b, k, draws = 3, 4, 2000
    g = torch.Generator().manual_seed(sample_type)
    sim = torch.randn(b, b * k, generator=g) * 2
    for i in range(b):
        sim[i, i * k + i] += 6  # one own caption far ahead: the three types then differ by >= 0.12
    pos_w, neg_text_w, neg_image_w = _original_sampling_weights(sim, k, sample_type)
    p_lang = pos_w / pos_w.sum(1, keepdim=True)
    p_neg_text = neg_text_w / neg_text_w.sum(1, keepdim=True)
    p_neg_image_given_text = neg_image_w / neg_image_w.sum(1, keepdim=True)
    # the negative image is drawn for the sampled positive text: mix the text rows by p_lang
    p_neg_image = torch.stack([p_lang[i] @ p_neg_image_given_text[i * k : i * k + k] for i in range(b)])
    samples = [losses.one_to_k_hard_samples(sim, k, sample_type, g) for _ in range(draws)]
    pos, neg_image, neg_text = (torch.stack(s) for s in zip(*samples))
    assert ((pos // k) == torch.arange(b)).all()
    # binomial sd <= 0.5 / sqrt(2000) = 0.011: 0.04 is over 3.5 sd (and the generator is seeded)
    torch.testing.assert_close(_frequencies(pos % k, k), p_lang, atol=0.04, rtol=0)
    torch.testing.assert_close(_frequencies(neg_text, b * k), p_neg_text, atol=0.04, rtol=0)
    torch.testing.assert_close(_frequencies(neg_image, b), p_neg_image, atol=0.04, rtol=0)


def test_samplers_draw_once_per_batch_whatever_its_size(monkeypatch):
    calls = []
    real = losses.sample_rows

    def spy(weights, *args, **kwargs):
        calls.append(tuple(weights.shape))
        return real(weights, *args, **kwargs)

    monkeypatch.setattr(losses, "sample_rows", spy)
    for b in (2, 64):
        calls.clear()
        sim = torch.randn(b, b * 10)
        losses.hard_positive_languages(sim, 10, 1)
        assert calls == [(b, 10)]  # one draw over the batch, no loop over samples
        calls.clear()
        losses.one_to_k_hard_samples(sim, 10, 1)
        # positive language, negative text over all B*K texts, negative image for the B positive texts
        assert calls == [(b, 10), (b, b * 10), (b, b)]


def test_sample_rows_is_proportional_and_never_draws_a_zero_weight(one_thread):
    weights = torch.tensor([[0.0, 1.0, 0.0, 3.0], [5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]).repeat(2000, 1)
    picks = losses.sample_rows(weights, torch.Generator().manual_seed(0)).view(2000, 3)
    assert (weights.view(2000, 3, 4).gather(2, picks.unsqueeze(2)) > 0).all()
    assert (picks[:, 1] == 0).all() and (picks[:, 2] == 3).all()
    assert (picks[:, 0] == 3).float().mean().item() == pytest.approx(0.75, abs=0.03)  # sd 0.01


def test_uniform_itm_negatives_ignore_similarity_but_keep_hard_positives(one_thread):
    b, k, draws = 4, 3, 3000
    sim = torch.zeros(b, b * k)
    sim[:, k * 1] = 30.0  # every image's hard negative text would be image 1's first caption
    sim[torch.arange(b), torch.arange(b) * k] = 20.0  # each image's own first caption: the easy positive
    g = torch.Generator().manual_seed(0)
    hard = [losses.one_to_k_hard_samples(sim, k, 2, g) for _ in range(200)]
    assert all((h[2][[0, 2, 3]] == k).all() for h in hard)  # hard: always the lure
    samples = [losses.one_to_k_hard_samples(sim, k, 2, g, hard_negatives=False) for _ in range(draws)]
    pos, neg_image, neg_text = (torch.stack(s) for s in zip(*samples))
    # the positive is still drawn hard (type 2: weight max - s = 10 for the easy caption, 30 for each other)
    assert (pos % k == 0).float().mean().item() == pytest.approx(10 / 70, abs=0.03)
    assert ((neg_text // k) != torch.arange(b)).all() and (neg_image != torch.arange(b)).all()
    # uniform over the other 3 images' 3 captions: each text 1/9 (sd 0.006 over 3000 draws)
    freq = torch.stack([(neg_text[:, 0] == t).float().mean() for t in range(k, b * k)])
    torch.testing.assert_close(freq, torch.full_like(freq, 1 / 9), atol=0.03, rtol=0)


def test_weighted_losses_scale_each_named_loss_and_refuse_an_unweighted_one():
    parts = {"itc": torch.tensor(2.0), "itm": torch.tensor(0.5), "mlm": torch.tensor(4.0)}
    out = losses.weighted_losses(parts, {"itc": 1.0, "itm": 1.0, "mlm": 0.1})
    assert {k: round(v.item(), 6) for k, v in out.items()} == {"itc": 2.0, "itm": 0.5, "mlm": 0.4}
    assert sum(out.values()).item() == pytest.approx(2.9)  # what the training loop minimises
    with pytest.raises(KeyError, match="mlm"):
        losses.weighted_losses(parts, {"itc": 1.0, "itm": 1.0})


def test_hardness_at_keeps_booleans_and_numbers_for_the_whole_stage():
    for step in (0, 7, 99):
        assert losses.hardness_at(True, step, 100) is True
        assert losses.hardness_at(False, step, 100) is False
        assert losses.hardness_at(0.5, step, 100) == 0.5
        assert losses.hardness_at(1, step, 100) == 1.0


def test_hardness_at_ramps_a_pair_linearly_from_the_first_to_the_last_step():
    # [0, 1] over 5 steps: 0, 0.25, 0.5, 0.75, 1 at steps 0..4
    assert [losses.hardness_at([0, 1], s, 5) for s in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    # [0.5, 1] over 11 steps: step 4 is 4/10 of the way, 0.5 + 0.5 * 0.4 = 0.7
    assert losses.hardness_at((0.5, 1.0), 4, 11) == pytest.approx(0.7)
    assert losses.hardness_at([1, 0], 3, 4) == 0.0  # a decreasing ramp ends at its end value too
    assert losses.hardness_at([0, 1], 9, 5) == 1.0  # past the last step: the end value
    assert losses.hardness_at([0.2, 0.6], 0, 1) == 0.2  # a one-step stage runs at the start value


@pytest.mark.parametrize("bad", [1.5, -0.1, [0.5], [0, 1, 1], [0, 2], [True, 1], "hard", None])
def test_hardness_at_rejects_a_bad_value_naming_the_key(bad):
    with pytest.raises(ValueError, match=r"finetune\.itm_hard_negatives must be"):
        losses.hardness_at(bad, 0, 10, "finetune.itm_hard_negatives")


def test_same_text_pairs_marks_images_with_an_identical_caption():
    # 3 images x K=2 captions, image-major; text 2 (image 1) equals text 5 (image 2), text 0 equals nothing
    ids = torch.tensor([[5, 6, 0], [7, 0, 0], [8, 9, 0], [4, 0, 0], [1, 2, 3], [8, 9, 0]])
    got = losses.same_text_pairs(ids, k=2)
    expected = torch.zeros(3, 6, dtype=torch.bool)
    expected[0, 0:2] = expected[1, 2:4] = expected[2, 4:6] = True  # every own caption
    expected[1, 5] = expected[2, 2] = True  # the shared text, both ways
    assert torch.equal(got, expected)
    # K = 1 (fine-tuning): a symmetric matrix, true on the diagonal
    assert torch.equal(
        losses.same_text_pairs(ids[[2, 3, 5]]), torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 1]]).bool()
    )


def test_one_to_k_negatives_skip_excluded_pairs():
    g = torch.Generator().manual_seed(0)
    b, k = 3, 2
    sim = torch.randn(b, b * k, generator=g) * 5
    exclude = torch.zeros(b, b * k, dtype=torch.bool)
    exclude[0, 2:4] = True  # image 0 must draw its negative text from image 2
    exclude[1, 4:6] = exclude[2, 0:2] = True
    for _ in range(50):
        pos, neg_img, neg_txt = losses.one_to_k_hard_samples(sim, k, 1, g, exclude=exclude)
        assert neg_txt.div(k, rounding_mode="floor").tolist() == [2, 0, 1]
        # the negative image of image b's positive text is neither b nor an image excluded for that text
        assert neg_img.tolist() == [1, 2, 0]
