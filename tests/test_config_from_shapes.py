"""A file in the original layout without ccrk's config: the architecture read from the tensor shapes alone."""

import copy
import logging
from dataclasses import replace

import pytest
import torch
import yaml

from ccrk.models import CCRKModel, load_model, save_checkpoint
from ccrk.models.keymap import check_against, original_to_ccrk
from ccrk.models.weights import config_from_original
from ccrk.pretrain import model_config_for
from tests.conftest import REPO
from tests.original_layout import TINY, original_state_dict

BUFFERS = ("relative_position_index", "attn_mask", "position_ids")


def _architecture(cfg) -> tuple:
    """Every setting that shapes the weights or the outputs (not dropout, drop path or the init paths)."""
    v, t = cfg.vision, cfg.text
    return (
        (v.image_res, v.patch_size, v.embed_dim, v.depths, v.num_heads, v.window_size, v.absolute_pos_embed),
        (t.vocab_size, t.hidden_size, t.num_attention_heads, t.intermediate_size, t.num_text_layers),
        (t.num_fusion_layers, t.max_position_embeddings, t.layer_norm_eps, t.pad_token_id, cfg.embed_dim),
    )


def _fits(sd, cfg) -> bool:
    """The state dict maps onto a model of `cfg` with nothing missing, unexpected or of another shape."""
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in CCRKModel(cfg).state_dict().items()}
    mapped, report = original_to_ccrk(sd, cfg.text.num_text_layers)
    return check_against(mapped, shapes, report).clean


@pytest.mark.parametrize(
    "dims,buffers,image_res,window",
    [
        (TINY, True, 32, 4),  # a shifted block's attention mask: 2x2 windows of 4 at stage 0
        (replace(TINY, window=8), False, 32, 8),  # stage 1 (4x4 patches) has its window cut to 4
        (replace(TINY, window=8, depths=(2,), heads=(2,)), True, 32, 8),  # 2 blocks of one window, no mask
        (replace(TINY, image_res=64, window=8), True, 64, 8),  # 16x16 patches: 2x2 windows of 8
    ],
    ids=["mask", "window-cut", "one-window", "64px"],
)
def test_the_image_size_is_read_from_what_fixes_it(dims, buffers, image_res, window):
    sd = {k: v for k, v in original_state_dict(dims).items() if buffers or not k.endswith(BUFFERS)}
    cfg = config_from_original(sd)
    assert (cfg.vision.image_res, cfg.vision.window_size, cfg.vision.depths) == (
        image_res,
        window,
        dims.depths,
    )
    assert not cfg.vision.absolute_pos_embed and _fits(sd, cfg)


def test_the_absolute_position_embedding_is_read_and_fixes_the_image_size():
    sd = {k: v for k, v in original_state_dict(TINY).items() if not k.endswith(BUFFERS)}  # as ccrk writes
    sd["vision_encoder.absolute_pos_embed"] = torch.randn(1, 8 * 8, TINY.embed)  # 32 px / 4: 8x8 patches
    cfg = config_from_original(sd)
    assert cfg.vision.absolute_pos_embed and cfg.vision.image_res == 32 and _fits(sd, cfg)


def test_an_image_size_the_shapes_do_not_fix_is_named_unless_given():
    sd = {k: v for k, v in original_state_dict(TINY).items() if not k.endswith(BUFFERS)}
    with pytest.raises(ValueError, match=r"model\.vision\.image_res is not in the shapes.*--image-res"):
        config_from_original(sd)
    assert _fits(sd, config_from_original(sd, image_res=32))


def test_text_heads_are_assumed_xlmr_sized_and_named(caplog):
    sd = original_state_dict(TINY)  # hidden 64
    with caplog.at_level(logging.INFO):
        assert config_from_original(sd).text.num_attention_heads == 1
    assert "1 heads assumed (64 each, as XLM-R" in caplog.text
    assert config_from_original(sd, text_heads=4).text.num_attention_heads == 4
    with pytest.raises(ValueError, match=r"num_attention_heads is not in the weights.*--text-heads"):
        config_from_original(original_state_dict(replace(TINY, hidden=48)))


def test_fusion_layers_out_of_order_are_refused():
    sd = original_state_dict(TINY)
    moved = {
        k.replace("encoder.layer.3.crossattention", "encoder.layer.0.crossattention"): v
        for k, v in sd.items()
    }
    with pytest.raises(ValueError, match=r"cross-attention in \[0, 2\]"):
        config_from_original(moved)


def _demo_model(tokenizer):
    """The demo's model (config/config.yaml): 8-px patches, absolute position, 4 heads of 32 in the text layers."""
    spec = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["model"])
    torch.manual_seed(0)
    return CCRKModel(model_config_for(tokenizer, spec)).eval()


@torch.no_grad()
def _outputs(model, tokenizer):
    torch.manual_seed(1)
    images = torch.randn(2, 3, model.cfg.vision.image_res, model.cfg.vision.image_res)
    enc = tokenizer(
        ["a red circle left of a blue square", "zwei gelbe Dreiecke"], padding=True, return_tensors="pt"
    )
    img = model.encode_image(images)
    txt = model.encode_text(enc["input_ids"], enc["attention_mask"])
    itm = model.itm_head(model.fuse(txt.hidden, txt.mask, img.tokens)[:, 0])
    return img.feat, txt.feat, itm


def test_a_demo_model_stripped_to_its_weights_converts_back_with_identical_outputs(
    tiny_tokenizer, tmp_path, capsys
):
    from ccrk.cli import main

    model = _demo_model(tiny_tokenizer)
    assert model.cfg.vision.absolute_pos_embed and model.cfg.text.num_attention_heads == 4
    save_checkpoint(tmp_path / "demo.pt", model)
    assert main(["checkpoint", "to-original", str(tmp_path / "demo.pt"), str(tmp_path / "orig.th")]) == 0
    stripped = {"model": torch.load(tmp_path / "orig.th", weights_only=True)["model"]}  # no ccrk_config
    torch.save(stripped, tmp_path / "stripped.th")
    args = ["checkpoint", "to-ccrk", str(tmp_path / "stripped.th"), str(tmp_path / "back.pt")]
    assert main([*args, "--text-heads", "4"]) == 0
    back = load_model(tmp_path / "back.pt").eval()
    assert _architecture(back.cfg) == _architecture(model.cfg)
    for ours, theirs in zip(_outputs(model, tiny_tokenizer), _outputs(back, tiny_tokenizer)):
        assert torch.equal(ours, theirs)
    # without the head count, which no weight holds, the assumption is logged by name
    capsys.readouterr()
    assert main(args) == 0
    assert "WARNING text layers of width 128: 2 heads assumed" in capsys.readouterr().err
    assert load_model(tmp_path / "back.pt").cfg.text.num_attention_heads == 2


def test_a_tiny_model_without_position_embedding_needs_its_image_size(
    tiny_model, tiny_tokenizer, tmp_path, capsys
):
    from ccrk.cli import main

    save_checkpoint(tmp_path / "tiny.pt", tiny_model)
    assert main(["checkpoint", "to-original", str(tmp_path / "tiny.pt"), str(tmp_path / "orig.th")]) == 0
    torch.save({"model": torch.load(tmp_path / "orig.th", weights_only=True)["model"]}, tmp_path / "s.th")
    args = ["checkpoint", "to-ccrk", str(tmp_path / "s.th"), str(tmp_path / "back.pt"), "--text-heads", "2"]
    assert main(args) == 1
    assert "image_res is not in the shapes" in capsys.readouterr().err
    assert main([*args, "--image-res", "32"]) == 0
    back = load_model(tmp_path / "back.pt").eval()
    assert _architecture(back.cfg) == _architecture(tiny_model.cfg)
    for ours, theirs in zip(_outputs(tiny_model, tiny_tokenizer), _outputs(back, tiny_tokenizer)):
        assert torch.equal(ours, theirs)
