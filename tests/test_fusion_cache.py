"""Cached re-ranking: per-image cross-attention keys/values and per-text first-layer parts, exact logits."""

import pytest
import torch
import torch.nn.functional as F

from ccrk.models import CCRKModel
from ccrk.models.config import CCRKConfig, TextConfig, VisionConfig
from ccrk.retrieval import Features, image_block_size, itm_scores


def _model(n_fusion_layers: int) -> CCRKModel:
    torch.manual_seed(0)
    cfg = CCRKConfig(
        vision=VisionConfig(
            image_res=32,
            patch_size=4,
            embed_dim=16,
            depths=(1, 1),
            num_heads=(2, 2),
            window_size=4,
            drop_path_rate=0.0,
        ),
        text=TextConfig(
            vocab_size=50,
            hidden_size=32,
            num_attention_heads=4,
            intermediate_size=64,
            num_text_layers=1,
            num_fusion_layers=n_fusion_layers,
            max_position_embeddings=40,
            dropout=0.0,
        ),
        embed_dim=16,
    )
    return CCRKModel(cfg).eval()


def _features(model: CCRKModel, n_img: int, n_txt: int):
    """Random image tokens and text states; captions of 2 to 9 tokens, padded to 12 (beyond the longest)."""
    g = torch.Generator().manual_seed(1)
    width, hidden = model.cfg.vision.width, model.cfg.text.hidden_size
    lengths = torch.randint(2, 10, (n_txt,), generator=g)
    mask = (torch.arange(12)[None] < lengths[:, None]).long()
    images = Features(
        torch.randn(n_img, 17, width, generator=g), None, F.normalize(torch.randn(n_img, 8), dim=-1)
    )
    texts = Features(
        torch.randn(n_txt, 12, hidden, generator=g), mask, F.normalize(torch.randn(n_txt, 8), dim=-1)
    )
    return images, texts


def test_image_block_size_from_the_byte_budget():
    # paper scale: 6 layers x (K, V) x 145 tokens x 1024 x 4 bytes = 7,127,040 bytes per image; 512 MiB / that = 75.3
    assert image_block_size(6, 145, 1024, 4, 512 * 2**20) == 75
    assert image_block_size(2, 17, 128, 4, 2 * 2 * 17 * 128 * 4 * 3) == 3  # exactly three images
    assert image_block_size(2, 17, 128, 4, 2 * 2 * 17 * 128 * 4 * 3 - 1) == 2
    assert image_block_size(6, 145, 1024, 2, 1000) == 1  # below one image: still one at a time


@pytest.mark.parametrize("n_fusion_layers", [1, 3])
@torch.no_grad()
def test_cached_itm_scores_equal_plain_itm_logits(n_fusion_layers, monkeypatch):
    model = _model(n_fusion_layers)
    images, texts = _features(model, n_img=7, n_txt=11)
    img_idx = torch.randint(0, 7, (60,), generator=torch.Generator().manual_seed(2))
    txt_idx = torch.randint(0, 11, (60,), generator=torch.Generator().manual_seed(3))
    plain = model.itm_logits(texts.tokens[txt_idx], texts.mask[txt_idx], images.tokens[img_idx])[:, 1]
    blocks = []
    image_kv = model.fusion_encoder.image_kv
    monkeypatch.setattr(
        model.fusion_encoder, "image_kv", lambda image: blocks.append(len(image)) or image_kv(image)
    )
    per_image = n_fusion_layers * 2 * 17 * 32 * 4
    cached = itm_scores(model, images, texts, img_idx, txt_idx, batch_size=8, kv_budget_bytes=3 * per_image)
    torch.testing.assert_close(cached, plain, rtol=1e-5, atol=1e-5)
    assert blocks == [3, 3, 1]  # three blocks of at most 3 images, each image's keys/values computed once
    assert len(itm_scores(model, images, texts, img_idx[:0], txt_idx[:0], batch_size=8)) == 0


@torch.no_grad()
def test_precomputed_prefix_and_keys_values_give_every_token_of_the_plain_pass():
    model = _model(3)
    images, texts = _features(model, n_img=4, n_txt=4)
    fusion = model.fusion_encoder
    plain = fusion(texts.tokens, texts.mask, images.tokens)
    cached = fusion(
        None,
        texts.mask,
        None,
        image_kv=fusion.image_kv(images.tokens),
        prefix=fusion.text_prefix(texts.tokens, texts.mask),
    )
    real = texts.mask.bool()  # padding positions are never read
    torch.testing.assert_close(cached[real], plain[real], rtol=1e-5, atol=1e-5)
