"""The optional absolute position embedding of the Swin encoder (Microsoft Swin's `ape`; the demo uses it)."""

import copy

import torch

from ccrk.models import CCRKModel, load_model, save_checkpoint
from ccrk.models.keymap import ccrk_to_original, original_to_ccrk
from ccrk.pretrain import model_config_for
from tests.conftest import TINY_MODEL

KEY = "vision_encoder.swin.absolute_pos_embed"


def _pair(tokenizer):
    """A model with the embedding and the same model without it (every other weight equal)."""
    spec = copy.deepcopy(TINY_MODEL)
    spec["vision"]["absolute_pos_embed"] = True
    torch.manual_seed(0)
    with_pos = CCRKModel(model_config_for(tokenizer, spec)).eval()
    without = CCRKModel(model_config_for(tokenizer, TINY_MODEL)).eval()
    without.load_state_dict({k: v for k, v in with_pos.state_dict().items() if k != KEY})
    return with_pos, without


def test_the_embedding_is_added_to_the_patches_before_the_swin_stages(tiny_tokenizer):
    with_pos, without = _pair(tiny_tokenizer)
    assert with_pos.state_dict()[KEY].shape == (1, 8 * 8, 16)  # [1, patches of 32 px / 4, embed_dim]
    assert KEY not in without.state_dict()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(with_pos.encode_image(images).feat, without.encode_image(images).feat)
        with_pos.vision_encoder.swin.absolute_pos_embed.zero_()
        torch.testing.assert_close(with_pos.encode_image(images).tokens, without.encode_image(images).tokens)


def test_patch_order_is_row_major_as_timm_lays_out_the_grid(tiny_tokenizer):
    """Embedding row r*8+c is added to patch (row r, column c): an embedding on patch (0, 7) alone changes that
    patch's stage-1 input and nothing else."""
    with_pos, _ = _pair(tiny_tokenizer)
    swin = with_pos.vision_encoder.swin
    with torch.no_grad():
        swin.absolute_pos_embed.zero_()
        swin.absolute_pos_embed[0, 7] = 1.0
        seen = {}
        handle = swin.layers.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
        images = torch.randn(1, 3, 32, 32)
        with_pos.encode_image(images)
        handle.remove()
        delta = seen["x"] - swin.patch_embed(images)
    torch.testing.assert_close(delta[0, 0, 7], torch.ones(16))
    delta[0, 0, 7] = 0
    assert delta.abs().max() < 1e-6


def test_checkpoints_keep_microsofts_name_and_resample_to_another_resolution(tiny_tokenizer, tmp_path):
    with_pos, _ = _pair(tiny_tokenizer)
    n_text = with_pos.cfg.text.num_text_layers
    original = ccrk_to_original(with_pos.state_dict(), n_text)
    assert torch.equal(original["vision_encoder.absolute_pos_embed"], with_pos.state_dict()[KEY])
    back, report = original_to_ccrk(original, n_text)
    assert report.clean and torch.equal(back[KEY], with_pos.state_dict()[KEY])
    with torch.no_grad():  # a constant embedding is resampled to the same constant
        with_pos.vision_encoder.swin.absolute_pos_embed.fill_(0.25)
    save_checkpoint(tmp_path / "m.pt", with_pos)
    bigger = load_model(tmp_path / "m.pt", image_res=64, window_size=8)
    pos = bigger.state_dict()[KEY]
    assert pos.shape == (1, 16 * 16, 16)
    torch.testing.assert_close(pos, torch.full_like(pos, 0.25))
    assert bigger.encode_image(torch.randn(1, 3, 64, 64)).tokens.shape == (1, 1 + 8 * 8, 32)
