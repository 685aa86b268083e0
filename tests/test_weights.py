"""Full-size model on `meta`, the original-layout key map both ways, and loading released checkpoints."""

import logging
import random

import numpy as np
import pytest
import torch

from ccrk.models import CCRKConfig, CCRKModel, load_model, read_any_checkpoint, save_checkpoint
from ccrk.models.keymap import ccrk_to_original, check_against, original_to_ccrk
from ccrk.models.weights import config_from_original
from tests.original_layout import TINY, Dims, original_shapes, original_state_dict

PAPER_PARAMS_224 = 523_565_901  # README "The model at full size"
PAPER_PARAMS_384 = 523_701_261


def _meta_model(cfg):
    with torch.device("meta"):
        return CCRKModel(cfg)


def _hand_count(vocab=250002, h=1024, inter=4096, max_pos=514, window=7) -> int:
    """Parameters of CCRK at paper size, summed by hand from docs/method.md#model (no model code involved)."""
    swin_b_without_head = 87_768_224 - (
        1024 * 1000 + 1000
    )  # timm swin_base_patch4_window7_224: 87.77M with head
    swin = swin_b_without_head + 376 * ((2 * window - 1) ** 2 - 169)  # 376 = sum of depth x heads per stage
    linear = lambda i, o: i * o + o  # noqa: E731
    self_attn = 4 * linear(h, h) + 2 * h
    ffn = linear(h, inter) + linear(inter, h) + 2 * h
    embeddings = vocab * h + max_pos * h + h + 2 * h
    text = 6 * (self_attn + ffn)
    fusion = 6 * (2 * self_attn + ffn)  # + cross-attention, keys/values from 1024-d image tokens
    heads = 2 * linear(1024, 256) + 1 + linear(h, 2 * h) + 2 * 2 * h + linear(2 * h, 2)
    mlm = linear(h, h) + 2 * h + vocab
    return swin + embeddings + text + fusion + heads + mlm


@pytest.mark.parametrize("res,window,count", [(224, 7, PAPER_PARAMS_224), (384, 12, PAPER_PARAMS_384)])
def test_full_size_model_on_meta_has_the_paper_parameter_count(res, window, count):
    cfg = CCRKConfig.paper(res)
    assert (cfg.vision.window_size, cfg.vision.width, cfg.text.hidden_size, cfg.embed_dim) == (
        window,
        1024,
        1024,
        256,
    )
    model = _meta_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == count == _hand_count(window=window)
    # image tokens: [average] + 7x7 (224 px) or 12x12 (384 px) patches of 1024 channels
    images = torch.empty(2, 3, res, res, device="meta")
    assert model.vision_encoder(images).shape == (2, 1 + window**2, 1024)


@pytest.mark.parametrize("res,window", [(224, 7), (384, 12)])
def test_every_original_key_and_shape_maps_at_full_size(res, window):
    paper = CCRKConfig.paper(res)
    model_shapes = {k: tuple(v.shape) for k, v in _meta_model(paper).state_dict().items()}
    dims = Dims(image_res=res, window=window)
    original = original_state_dict(dims, device="meta")
    assert config_from_original(original) == paper  # the architecture is read back from the shapes alone
    mapped, report = original_to_ccrk(original, n_text=6)
    check_against(mapped, model_shapes, report)
    assert report.clean, str(report)
    back = ccrk_to_original({k: torch.empty(s, device="meta") for k, s in model_shapes.items()}, n_text=6)
    buffers = ("relative_position_index", "attn_mask", "position_ids")
    expected = {k: tuple(s) for k, (s, _) in original_shapes(dims).items() if not k.endswith(buffers)}
    assert {k: tuple(v.shape) for k, v in back.items()} == expected


def test_round_trip_ours_original_ours_is_bit_identical(tiny_model):
    ours = tiny_model.state_dict()
    original = ccrk_to_original(ours, tiny_model.cfg.text.num_text_layers)
    assert "text_encoder.cls.predictions.decoder.weight" in original
    assert any(
        k.startswith("vision_encoder.layers.0.downsample.") for k in original
    )  # Microsoft: end of stage 0
    back, report = original_to_ccrk(original, tiny_model.cfg.text.num_text_layers)
    assert report.clean and list(back) == list(ours)
    assert all(torch.equal(back[k], ours[k]) and back[k].dtype == ours[k].dtype for k in ours)


def _write(path, state_dict, **extra):
    torch.save({"model": state_dict, **extra}, path)
    return path


def _ccrk_release(path, state_dict):
    """A file as CCRK's Pretrain.py saves it every epoch: model, optimizer, lr_scheduler, config, epoch, the RNG
    states of python, numpy and torch, global_step and the GradScaler's state (real objects' state dicts)."""
    params = [torch.nn.Parameter(torch.randn(3, 2)), torch.nn.Parameter(torch.randn(3))]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    (params[0].sum() + params[1].sum()).backward()
    optimizer.step()  # a real AdamW state: step, exp_avg, exp_avg_sq per parameter
    scheduler.step()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    return _write(
        path,
        state_dict,
        optimizer=optimizer.state_dict(),
        lr_scheduler=scheduler.state_dict(),
        config={"embed_dim": 16, "images": {"batch_size": 64, "language_chosen": ["zh", "en"]}},
        epoch=29,
        random_state=random.getstate(),
        np_random_state=np.random.get_state(),
        torch_rng_state=torch.get_rng_state(),
        global_step=83159,
        scaler=scaler.state_dict(),
    )


BBOX = [f"bbox_head.{i}.{w}" for i in (0, 1, 3) for w in ("weight", "bias")]


def test_released_layout_loads_with_an_empty_report(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    sd = original_state_dict(TINY, bbox_head=True)  # CCRK's UniAlignLM builds CCLM's box head too
    path = _ccrk_release(tmp_path / "ccrk_epoch_29.th", sd)
    _, cfg, report, optional = read_any_checkpoint(path)
    assert report.clean and not optional
    assert (
        sorted(report.dropped) == sorted(BBOX)
        and "dropped 6 keys of a head ccrk does not have" in caplog.text
    )
    v, t = cfg.vision, cfg.text
    assert (v.image_res, v.window_size, v.embed_dim, v.depths, v.num_heads) == (32, 4, 8, (2, 2), (1, 2))
    assert (
        t.hidden_size,
        t.num_text_layers,
        t.num_fusion_layers,
        t.vocab_size,
        t.max_position_embeddings,
    ) == (64, 2, 2, 40, 20)
    model = load_model(path)
    got = model.state_dict()
    # patch merging: end of Microsoft stage 0 = start of timm stage 1
    assert torch.equal(
        got["vision_encoder.swin.layers.1.downsample.reduction.weight"],
        sd["vision_encoder.layers.0.downsample.reduction.weight"],
    )
    assert torch.equal(
        got["fusion_encoder.layer.0.intermediate.dense.weight"],
        sd["text_encoder.bert.encoder.layer.2.intermediate.dense.weight"],
    )
    assert torch.equal(
        got["fusion_encoder.layer.1.crossattention.self.key.weight"],
        sd["text_encoder.bert.encoder.layer.3.crossattention.self.key.weight"],
    )
    assert torch.equal(
        got["mlm_head.LayerNorm.weight"], sd["text_encoder.cls.predictions.transform.LayerNorm.weight"]
    )
    assert torch.equal(
        got["text_encoder.embeddings.position_embeddings.weight"],
        sd["text_encoder.bert.embeddings.position_embeddings.weight"],
    )
    # and back: every weight of the file but the box head, bit for bit (the buffers are recomputed, not written)
    again = ccrk_to_original(got, n_text=2)
    kept = {
        k: x
        for k, x in sd.items()
        if not k.endswith(("relative_position_index", "attn_mask", "position_ids")) and k not in BBOX
    }
    assert set(again) == set(kept) and all(torch.equal(again[k], kept[k]) for k in kept)


def test_patch_merging_computes_the_microsoft_concatenation(tmp_path):
    """timm's merge must read the 2x2 neighbours in Microsoft's order x0, x1, x2, x3 for the weights to fit."""
    model = load_model(_write(tmp_path / "m.th", original_state_dict(TINY))).eval()
    merge = model.vision_encoder.swin.layers[1].downsample
    x = torch.randn(1, 8, 8, 8)
    x0, x1, x2, x3 = x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    reference = merge.reduction(
        merge.norm(torch.cat([x0, x1, x2, x3], dim=-1))
    )  # Swin-Transformer PatchMerging
    torch.testing.assert_close(merge(x), reference)


def test_finetuned_layout_without_mlm_head_loads(tmp_path, caplog):
    sd = original_state_dict(TINY, finetuned=True)
    assert not any(k.startswith("text_encoder.bert.") for k in sd)
    model = load_model(_write(tmp_path / "checkpoint_best.pth", sd))
    assert torch.equal(
        model.state_dict()["text_encoder.encoder.layer.1.output.dense.weight"],
        sd["text_encoder.encoder.layer.1.output.dense.weight"],
    )
    assert "without MLM head" in caplog.text


def test_a_bare_state_dict_is_read_too(tmp_path):
    path = tmp_path / "bare.th"
    torch.save(original_state_dict(TINY, finetuned=True), path)
    assert load_model(path).cfg.vision.image_res == 32


@pytest.mark.parametrize(
    "change,expected",
    [
        (
            lambda sd: sd.update({"text_encoder.bert.pooler.dense.weight": torch.zeros(2)}),
            "1 unexpected: text_encoder.bert.pooler.dense.weight",
        ),
        (lambda sd: sd.pop("itm_head.3.bias"), "1 missing: itm_head.3.bias"),
        (
            lambda sd: sd.update({"text_encoder.cls.predictions.decoder.weight": torch.zeros(40, 64)}),
            "mismatched",
        ),
        (
            lambda sd: sd.update({"text_proj.bias": torch.zeros(17)}),
            "text_proj.bias: shape (17,), model (16,)",
        ),
    ],
)
def test_a_malformed_file_is_reported_by_key(tmp_path, change, expected):
    sd = original_state_dict(TINY)
    change(sd)
    path = _write(tmp_path / "bad.th", sd)
    with pytest.raises(ValueError, match=r"bad\.th") as err:
        load_model(path)
    assert expected in str(err.value)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.th"
    torch.save({"model": original_state_dict(TINY), "args": Dims()}, path)  # an arbitrary class
    with pytest.raises(Exception, match="Unsupported global"):
        load_model(path)


def test_evaluating_at_another_window_resamples_the_tables(tiny_model, tmp_path):
    """The original's --evaluate loads a 224-px checkpoint into the 384-px model without resampling; ccrk resamples."""
    from ccrk.models.swin_resample import resample_relative_position_table

    path = tmp_path / "pretrained.pt"
    save_checkpoint(path, tiny_model)
    model = load_model(path, image_res=64, window_size=8).eval()
    assert (model.cfg.vision.image_res, model.cfg.vision.window_size) == (64, 8)
    key = "vision_encoder.swin.layers.0.blocks.0.attn.relative_position_bias_table"
    table = model.state_dict()[key]
    assert table.shape == (15 * 15, 2)
    torch.testing.assert_close(table, resample_relative_position_table(tiny_model.state_dict()[key], 225))
    assert model.encode_image(torch.randn(1, 3, 64, 64)).tokens.shape == (1, 1 + 8 * 8, 32)
    for k, v in tiny_model.state_dict().items():  # everything else is untouched
        if "relative_position_bias_table" not in k:
            assert torch.equal(model.state_dict()[k], v), k


def test_a_window_that_does_not_tile_the_image_is_refused():
    with pytest.raises(ValueError, match="not a whole number of 7x7 windows"):
        CCRKConfig.paper().with_resolution(384, 7)


def test_checkpoint_command_converts_a_released_file_and_back_bit_identically(tmp_path, capsys):
    from ccrk.cli import main

    sd = original_state_dict(TINY)
    released = _write(tmp_path / "ccrk_2m_10lan_epoch_29.th", sd, epoch=29)
    assert main(["checkpoint", "to-ccrk", str(released), str(tmp_path / "model.pt")]) == 0
    assert "all keys matched; Swin 32 px / window 4, 2+2 text layers of 64" in capsys.readouterr().out
    model = load_model(tmp_path / "model.pt")  # ccrk's own format now, config included
    assert torch.equal(model.state_dict()["itm_head.3.weight"], sd["itm_head.3.weight"])
    assert main(["checkpoint", "to-original", str(tmp_path / "model.pt"), str(tmp_path / "back.th")]) == 0
    back = torch.load(tmp_path / "back.th", weights_only=True)["model"]
    kept = {
        k: v
        for k, v in sd.items()
        if not k.endswith(("relative_position_index", "attn_mask", "position_ids"))
    }
    assert set(back) == set(kept) and all(torch.equal(back[k], kept[k]) for k in kept)


def test_checkpoint_command_round_trip_from_ours_keeps_weights_and_config(tiny_model, tmp_path):
    from ccrk.cli import main

    save_checkpoint(tmp_path / "ours.pt", tiny_model)
    assert (
        main(
            ["checkpoint", "to-original", str(tmp_path / "ours.pt"), str(tmp_path / "orig.th"), "--finetuned"]
        )
        == 0
    )
    assert not any(
        k.startswith(("text_encoder.bert.", "text_encoder.cls."))
        for k in torch.load(tmp_path / "orig.th", weights_only=True)["model"]
    )
    assert main(["checkpoint", "to-original", str(tmp_path / "ours.pt"), str(tmp_path / "orig.th")]) == 0
    assert main(["checkpoint", "to-ccrk", str(tmp_path / "orig.th"), str(tmp_path / "again.pt")]) == 0
    again = load_model(tmp_path / "again.pt")
    assert again.cfg == tiny_model.cfg
    ours = tiny_model.state_dict()
    assert all(torch.equal(again.state_dict()[k], ours[k]) for k in ours)


def test_checkpoint_command_fails_naming_the_keys(tmp_path, capsys):
    from ccrk.cli import main

    sd = original_state_dict(TINY)
    sd["text_encoder.bert.pooler.dense.weight"] = torch.zeros(3)  # BertModel's pooler: ccrk has none
    path = _write(tmp_path / "pooled_epoch_29.th", sd)
    assert main(["checkpoint", "to-ccrk", str(path), str(tmp_path / "out.pt")]) == 1
    assert "unexpected: text_encoder.bert.pooler.dense.weight" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("layout", ["cclm", "ccrk"])
def test_released_pretraining_checkpoints_with_the_box_head_load(tmp_path, capsys, layout):
    """CCLM's and CCRK's pretraining models always build bbox_head: its 6 keys are dropped with a log line naming
    them, by `checkpoint to-ccrk` and by load_model (what fine-tuning from `pretrain.checkpoint` calls)."""
    from ccrk.cli import main

    sd = original_state_dict(TINY, bbox_head=True, seed=1)
    if (
        layout == "cclm"
    ):  # CCLM's Pretrain.py: {"model", "optimizer", "lr_scheduler", "config", "epoch"} at most
        path = _write(tmp_path / "cclm_3m_epoch_29.th", sd, config={"embed_dim": 16}, epoch=29)
    else:
        path = _ccrk_release(tmp_path / "ccrk_3m_10lan_epoch_29.th", sd)
    expected = {  # ccrk key -> the original's
        "vision_encoder.swin.layers.1.downsample.reduction.weight": (
            "vision_encoder.layers.0.downsample.reduction.weight"
        ),
        "fusion_encoder.layer.1.crossattention.self.value.weight": (
            "text_encoder.bert.encoder.layer.3.crossattention.self.value.weight"
        ),
        "mlm_head.dense.weight": "text_encoder.cls.predictions.transform.dense.weight",
        "itm_head.3.weight": "itm_head.3.weight",
        "temp": "temp",
    }
    assert main(["checkpoint", "to-ccrk", str(path), str(tmp_path / "model.pt")]) == 0
    captured = capsys.readouterr()
    assert "all keys matched" in captured.out
    assert f"{path.name}: dropped 6 keys of a head ccrk does not have" in captured.err
    assert all(key in captured.err for key in BBOX)
    for model in (load_model(tmp_path / "model.pt"), load_model(path)):  # converted, and read directly
        got = model.state_dict()
        assert not any(k.startswith("bbox_head") for k in got)
        assert all(torch.equal(got[ours], sd[theirs]) for ours, theirs in expected.items())
    assert "dropped 6 keys" in capsys.readouterr().err  # load_model says so as well
