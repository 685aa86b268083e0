"""Training-speed levers change the work, never the numbers: lean fusion, fused AdamW, image caching, masking."""

import copy
import random

import pytest
import torch
from PIL import Image

from ccrk import losses
from ccrk.data.masking import MaskingConfig, mask_batch, mask_ids
from ccrk.data.pretrain_dataset import CorpusItem, PretrainDataset
from ccrk.data.transforms import cache_images, eval_transform, train_transform
from ccrk.models import CCRKConfig, CCRKModel
from ccrk.models.ccrk_model import length_buckets
from ccrk.train import OptimConfig, build_optimizer
from tests.conftest import TINY_MODEL


def _model(fusion_layers: int) -> CCRKModel:
    torch.manual_seed(0)
    cfg = copy.deepcopy(TINY_MODEL)
    cfg["text"].update(vocab_size=50, num_fusion_layers=fusion_layers)
    return CCRKModel(CCRKConfig.from_dict(cfg)).train()


def _texts(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 15, (n,), generator=g)
    lengths[0] = 15
    mask = (torch.arange(15)[None] < lengths[:, None]).long()
    ids = torch.randint(4, 49, (n, 15), generator=g).masked_fill(mask == 0, 1)
    ids[:, 0] = 0
    return ids, mask


def test_length_buckets_cover_every_row_once_each_cut_to_its_longest():
    mask = (torch.arange(10)[None] < torch.tensor([3, 9, 5, 10, 2, 7, 4, 8, 6, 1])[:, None]).long()
    groups = length_buckets(mask, min_rows=3)
    assert len(groups) == 3  # 10 rows // 3 per group, at most 4
    assert sorted(torch.cat([rows for rows, _ in groups]).tolist()) == list(range(10))
    for rows, width in groups:
        assert width == int(mask[rows].sum(1).max())
    assert [w for _, w in groups] == sorted(w for _, w in groups)  # shortest rows first
    assert len(length_buckets(mask, min_rows=100)) == 1  # fewer rows than a bucket: one group


@pytest.mark.parametrize("fusion_layers", [1, 3])
def test_lean_itm_gives_the_logits_and_gradients_of_the_plain_one(fusion_layers):
    """Shared image keys/values, shared first fusion layers and length buckets: the same logits and gradients."""
    model = _model(fusion_layers)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ids, mask = _texts(12)
    img_idx = torch.tensor([0, 1, 2, 3, 2, 3, 0, 1, 0, 1, 2, 3] * 2)  # images and texts repeated, as in ITM
    txt_idx = torch.tensor([0, 4, 8, 11, 0, 4, 8, 11, 5, 9, 2, 7] * 2)
    grads, logits = [], []
    for lean in (False, True):
        model.zero_grad()
        img = model.encode_image(images)
        txt = model.encode_text(ids, mask)
        if lean:
            out = model.sampled_itm_logits(img.tokens, txt.hidden, txt.mask, img_idx, txt_idx)
        else:
            out = model.itm_logits(txt.hidden[txt_idx], txt.mask[txt_idx], img.tokens[img_idx])
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        logits.append(out.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-5, atol=1e-6)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


def test_lean_pretraining_step_has_the_losses_of_the_plain_one():
    model = _model(2)
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    ids, mask = _texts(8 * 3, seed=3)
    masked, pos, labels = mask_batch(ids, mask, random.Random(0), 49, 50, MaskingConfig())
    parts = {}
    for lean in (False, True):
        model.lean_fusion = lean
        torch.manual_seed(7)  # the samplers draw alike
        parts[lean] = model.forward_pretrain(images, ids, mask, masked, pos, labels, 3)
    for name in ("itc", "itm", "mlm"):
        torch.testing.assert_close(parts[True][name], parts[False][name], rtol=1e-5, atol=1e-6)


def test_fused_adamw_is_the_default_and_steps_like_the_loop():
    models = [_model(1), _model(1)]
    opts = [
        build_optimizer(models[0], OptimConfig(lr=1e-2), fused=False),
        build_optimizer(models[1], OptimConfig(lr=1e-2)),
    ]
    assert opts[1].defaults["fused"] and not opts[0].defaults["fused"]
    for _ in range(3):
        for model, opt in zip(models, opts):
            opt.zero_grad()
            images = torch.linspace(-1, 1, 2 * 3 * 32 * 32).view(2, 3, 32, 32)
            model.encode_image(images).tokens.pow(2).mean().backward()
            opt.step()
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        # AdamW divides by sqrt(v): parameters with near-zero gradients move by up to lr on rounding alone
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4, msg=name)


def test_mask_batch_rows_equal_mask_ids_of_each_row():
    ids, mask = _texts(6, seed=4)
    cfg = MaskingConfig()
    masked, pos, labels = mask_batch(ids, mask, random.Random(5), 49, 50, cfg)
    rng = random.Random(5)
    for i, length in enumerate(mask.sum(1).tolist()):
        row, mpos, mlab = mask_ids(ids[i, :length].tolist(), rng, 49, 50, cfg)
        assert masked[i, :length].tolist() == row and masked[i, length:].tolist() == ids[i, length:].tolist()
        assert pos[i].tolist() == mpos + [0] * (cfg.max_masks - len(mpos))
        assert labels[i].tolist() == mlab + [-100] * (cfg.max_masks - len(mlab))


def test_negative_sims_uniform_hard_and_between():
    sim = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    assert losses.negative_sims(sim, True) is sim
    assert torch.equal(losses.negative_sims(sim, False), torch.zeros_like(sim))
    assert torch.equal(losses.negative_sims(sim, 0.5), sim / 2)
    with pytest.raises(ValueError, match="hard_negatives"):
        losses.negative_sims(sim, 1.5)


def test_without_augmentation_training_images_are_the_eval_transform_and_decoded_once(tmp_path):
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "a.png")
    image = Image.open(tmp_path / "a.png").convert("RGB")
    torch.testing.assert_close(train_transform(32, 1.0, False, False)(image), eval_transform(32)(image))
    assert cache_images(2000, 64, 1.0, False, False) and not cache_images(2000, 64, 0.8, False, False)
    assert not cache_images(10**6, 224, 1.0, False, False)  # too large to keep
    dataset = PretrainDataset([CorpusItem("a.png", ["x"])], tmp_path, eval_transform(32), cache=True)
    first = dataset[0][0]
    (tmp_path / "a.png").unlink()  # a second read would fail: the tensor comes from the cache
    assert dataset[0][0] is first


def test_pretraining_gradients_repeat_bit_for_bit_on_two_threads():
    """Two runs of one seed give one model: the ITM's and MLM's row gathers sum their gradients in a fixed order.

    With advanced indexing the ITM's repeated texts and images (each up to 3 times per batch) took their
    gradient from index_put_'s atomic adds, whose order changes from run to run on more than one thread.
    """
    model = _model(2)
    images = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    ids, mask = _texts(64 * 3, seed=3)
    masked, pos, labels = mask_batch(ids, mask, random.Random(0), 49, 50, MaskingConfig())
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = []
        for _ in range(8):
            model.zero_grad()
            torch.manual_seed(7)
            parts = model.forward_pretrain(images, ids, mask, masked, pos, labels, 3, hard_negatives=False)
            sum(parts.values()).backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    finally:
        torch.set_num_threads(threads)
    for g in grads[1:]:
        assert torch.equal(g, grads[0])


def test_pretraining_on_two_threads_writes_the_same_model_twice(tiny_tokenizer, demo_dataset, tmp_path):
    """The pretraining stage end to end (data order, ITM and MLM sampling, AdamW) replays its seed on 2 threads."""
    from ccrk.config import ImageAugConfig, PretrainConfig
    from ccrk.pretrain import run_pretraining

    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    cfg = PretrainConfig(
        languages=("en", "de", "ja", "zh"),
        batch_size=32,
        epochs=2,
        num_workers=0,
        max_tokens=24,
        precision="fp32",
        itm_hard_negatives=False,
        augment=ImageAugConfig(crop_scale_min=1.0, hflip=False, randaugment=False),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for run in ("a", "b"):
            corpus = [demo_dataset / "pretrain" / "given.jsonl"]
            run_pretraining(
                corpus, demo_dataset / "images", tmp_path / "tok", tmp_path / f"{run}.pt", TINY_MODEL, cfg
            )
    finally:
        torch.set_num_threads(threads)
    a, b = (torch.load(tmp_path / f"{run}.pt")["model"] for run in ("a", "b"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
