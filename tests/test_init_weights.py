"""Pretraining initialisation: XLM-R (Hugging Face layout, odd layers) and Swin ImageNet (Microsoft layout)."""

import pytest
import torch

from ccrk.models import CCRKModel
from ccrk.models.weights import load_text_init, load_vision_init
from ccrk.pretrain import initial_model, model_config_for
from tests.conftest import TINY_MODEL
from tests.original_layout import Dims, materialise, swin_shapes


def _xlmr(tmp_path, vocab: int, fmt: str):
    """A 4-layer XLM-R masked LM as save_pretrained writes it, or as the hub's pytorch_model.bin holds it."""
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    torch.manual_seed(1)
    t = TINY_MODEL["text"]
    hf = XLMRobertaForMaskedLM(
        XLMRobertaConfig(
            vocab_size=vocab,
            hidden_size=t["hidden_size"],
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=t["intermediate_size"],
            max_position_embeddings=t["max_position_embeddings"],
            type_vocab_size=1,
        )
    )
    sd = {k: v.clone() for k, v in hf.state_dict().items()}
    out = tmp_path / f"xlmr_{fmt}"
    if fmt == "safetensors":
        hf.save_pretrained(out)
    else:  # the original 2019 file: pooler and position_ids included
        out.mkdir()
        h = t["hidden_size"]
        torch.save(
            {
                **sd,
                "roberta.pooler.dense.weight": torch.zeros(h, h),
                "roberta.pooler.dense.bias": torch.zeros(h),
                "roberta.embeddings.position_ids": torch.arange(42)[None],
            },
            out / "pytorch_model.bin",
        )
    return out, sd


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_xlmr_odd_layers_become_text_and_fusion_layers(tiny_model, tmp_path, fmt):
    path, hf = _xlmr(tmp_path, tiny_model.cfg.text.vocab_size, fmt)
    report = load_text_init(tiny_model, path)
    assert not report.unexpected and not report.mismatched
    # all XLM-R lacks: the cross-attention of the fusion layer (newly initialised, lr x 2)
    assert sorted(report.missing) == sorted(k for k in tiny_model.state_dict() if ".crossattention." in k)
    got = tiny_model.state_dict()
    pairs = {  # 4 layers -> layers 1 and 3: text layer 0 and fusion layer 0
        "text_encoder.encoder.layer.0.attention.self.query.weight": (
            "roberta.encoder.layer.1.attention.self.query.weight"
        ),
        "text_encoder.encoder.layer.0.output.LayerNorm.bias": "roberta.encoder.layer.1.output.LayerNorm.bias",
        "fusion_encoder.layer.0.attention.self.value.bias": "roberta.encoder.layer.3.attention.self.value.bias",
        "fusion_encoder.layer.0.intermediate.dense.weight": "roberta.encoder.layer.3.intermediate.dense.weight",
        "text_encoder.embeddings.word_embeddings.weight": "roberta.embeddings.word_embeddings.weight",
        "text_encoder.embeddings.position_embeddings.weight": "roberta.embeddings.position_embeddings.weight",
        "mlm_head.dense.weight": "lm_head.dense.weight",
        "mlm_head.LayerNorm.weight": "lm_head.layer_norm.weight",
        "mlm_head.bias": "lm_head.bias",
    }
    for ours, theirs in pairs.items():
        assert torch.equal(got[ours], hf[theirs]), ours
    # the MLM decoder is the word embedding matrix, as in XLM-R
    h = torch.randn(1, tiny_model.cfg.text.hidden_size)
    torch.testing.assert_close(
        tiny_model.mlm_head(h)[0, :5],
        (
            tiny_model.mlm_head.LayerNorm(torch.nn.functional.gelu(tiny_model.mlm_head.dense(h)))
            @ hf["roberta.embeddings.word_embeddings.weight"].t()
            + hf["lm_head.bias"]
        )[0, :5],
    )


def test_xlmr_with_another_depth_is_refused(tiny_model, tmp_path):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    XLMRobertaModel(
        XLMRobertaConfig(
            vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64
        )
    ).save_pretrained(tmp_path / "x")
    with pytest.raises(ValueError, match="XLM-R has 3 layers: expected 4"):
        load_text_init(tiny_model, tmp_path / "x")


def _swin_file(tmp_path, window=4):
    v = TINY_MODEL["vision"]
    dims = Dims(
        image_res=v["image_res"],
        patch=v["patch_size"],
        embed=v["embed_dim"],
        depths=tuple(v["depths"]),
        heads=tuple(v["num_heads"]),
        window=window,
    )
    sd = materialise(swin_shapes(dims), seed=3)
    sd |= {
        "head.weight": torch.randn(21841, dims.vision_width),
        "head.bias": torch.randn(21841),
    }  # ImageNet-22k
    path = tmp_path / "swin_base_patch4_window7_224_22k.pth"
    torch.save({"model": sd}, path)
    return path, sd


def test_swin_imagenet_weights_fill_the_vision_encoder(tiny_model, tmp_path):
    path, sd = _swin_file(tmp_path)
    report = load_vision_init(tiny_model, path)
    assert report.clean, str(report)
    got = tiny_model.state_dict()
    assert torch.equal(
        got["vision_encoder.swin.layers.1.downsample.reduction.weight"],
        sd["layers.0.downsample.reduction.weight"],
    )
    assert torch.equal(
        got["vision_encoder.swin.layers.0.blocks.0.attn.relative_position_bias_table"],
        sd["layers.0.blocks.0.attn.relative_position_bias_table"],
    )
    assert torch.equal(got["vision_encoder.swin.norm.weight"], sd["norm.weight"])


def test_swin_tables_are_resampled_to_a_larger_window(tiny_tokenizer, tmp_path):
    from ccrk.models.swin_resample import resample_relative_position_table

    path, sd = _swin_file(tmp_path)  # window 4: 7x7 tables
    cfg = model_config_for(tiny_tokenizer, TINY_MODEL).with_resolution(64, 8)
    model = CCRKModel(cfg)
    assert load_vision_init(model, path).clean
    got = model.state_dict()["vision_encoder.swin.layers.1.blocks.0.attn.relative_position_bias_table"]
    assert got.shape == (15 * 15, 2)
    source = sd["layers.1.blocks.0.attn.relative_position_bias_table"]
    torch.testing.assert_close(got, resample_relative_position_table(source, 225))


def test_pretraining_starts_from_the_init_paths(tiny_tokenizer, tmp_path):
    text, hf = _xlmr(tmp_path, len(tiny_tokenizer), "safetensors")
    vision, swin = _swin_file(tmp_path)
    model = initial_model(tiny_tokenizer, {**TINY_MODEL, "init": {"text": str(text), "vision": str(vision)}})
    got = model.state_dict()
    assert torch.equal(
        got["fusion_encoder.layer.0.output.dense.weight"], hf["roberta.encoder.layer.3.output.dense.weight"]
    )
    assert torch.equal(got["vision_encoder.swin.patch_embed.proj.weight"], swin["patch_embed.proj.weight"])
    assert model.cfg.init.text == str(text)  # recorded in the checkpoint's config and the resume fingerprint
    plain = initial_model(tiny_tokenizer, TINY_MODEL)
    assert not torch.equal(
        plain.state_dict()["vision_encoder.swin.patch_embed.proj.weight"], swin["patch_embed.proj.weight"]
    )


def test_init_that_does_not_fit_names_the_key(tiny_tokenizer, tmp_path):
    path, _ = _swin_file(tmp_path)
    sd = torch.load(path, weights_only=True)
    sd["model"]["layers.0.blocks.0.mlp.fc1.weight"] = torch.zeros(3, 3)
    torch.save(sd, path)
    with pytest.raises(
        ValueError, match=r"model.init.vision .*layers.0.blocks.0.mlp.fc1.weight: shape \(3, 3\)"
    ):
        initial_model(tiny_tokenizer, {**TINY_MODEL, "init": {"vision": str(path)}})
