"""The CCRK model: shapes, the position-id quirk, tied MLM head, temperature clamp, checkpoints."""

import pytest
import torch

from ccrk.models import CCRKConfig, load_model, save_checkpoint
from tests.conftest import TINY_MODEL


def _batch(model, b=4, k=3, length=9):
    g = torch.Generator().manual_seed(0)
    vocab = model.cfg.text.vocab_size
    ids = torch.randint(4, vocab - 1, (b * k, length), generator=g)
    ids[:, 0] = 0
    att = torch.ones_like(ids)
    att[1, 6:] = 0
    pos = torch.randint(1, 6, (b * k, 12), generator=g)
    labels = torch.randint(4, vocab, (b * k, 12), generator=g)
    return torch.randn(b, 3, 32, 32, generator=g), ids, att, pos, labels


def test_shapes_and_token_layout(tiny_model):
    images, ids, att, *_ = _batch(tiny_model)
    img = tiny_model.encode_image(images)
    # 32 px / patch 4 = 8x8, one patch merging -> 4x4 = 16 tokens, plus the average token in front
    assert img.tokens.shape == (4, 17, tiny_model.cfg.vision.width)
    torch.testing.assert_close(img.tokens[:, 0], img.tokens[:, 1:].mean(dim=1))
    txt = tiny_model.encode_text(ids, att)
    assert txt.feat.shape == (12, 16)
    torch.testing.assert_close(txt.feat.norm(dim=-1), torch.ones(12))


def test_positions_start_at_zero(tiny_model):
    """The original BertEmbeddings count positions from 0 (HF XLM-R from padding_idx + 1)."""
    ids = torch.tensor([[0, 5, 6, 2]])
    att = torch.ones_like(ids)
    ours = tiny_model.text_hidden(ids, att)
    explicit = tiny_model.text_encoder(
        input_ids=ids, attention_mask=att, position_ids=torch.arange(4)[None]
    ).last_hidden_state
    hf_default = tiny_model.text_encoder(input_ids=ids, attention_mask=att).last_hidden_state
    torch.testing.assert_close(ours, explicit)
    assert not torch.allclose(ours, hf_default)


def test_mlm_head_is_tied_to_word_embeddings(tiny_model):
    names = [n for n, _ in tiny_model.named_parameters()]
    assert not any("mlm_head.word_embeddings" in n or "decoder" in n for n in names)
    with torch.no_grad():
        tiny_model.text_encoder.embeddings.word_embeddings.weight[7].zero_()
        tiny_model.mlm_head.bias[7] = 123.0
    logits = tiny_model.mlm_head(torch.randn(2, 32))
    torch.testing.assert_close(logits[:, 7], torch.full((2,), 123.0))


def test_pretrain_step_learns_and_clamps_temperature(tiny_model):
    images, ids, att, pos, labels = _batch(tiny_model)
    tiny_model.train()
    with torch.no_grad():
        tiny_model.temp.fill_(5.0)
    opt = torch.optim.AdamW(tiny_model.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        out = tiny_model.forward_pretrain(images, ids, att, ids, pos, labels, k=3)
        assert set(out) == {"itc", "itm", "mlm"}
        loss = sum(out.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert tiny_model.temp.item() <= tiny_model.cfg.temp_max + 3e-3 * 2  # clamped to 0.5, then one step
    assert loss.item() < first


def _without_gradient(model, losses) -> set[str]:
    model.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    return {n for n, p in model.named_parameters() if p.requires_grad and p.grad is None}


@pytest.mark.parametrize("lean_fusion", [False, True])
@pytest.mark.parametrize("hard_negatives, k", [(True, 3), (False, 3), (True, 1)])
def test_pretraining_gives_every_parameter_a_gradient(
    tiny_model, monkeypatch, lean_fusion, hard_negatives, k
):
    """What lets pretraining run DDP without find_unused_parameters; fine-tuning leaves the MLM head out."""
    images, ids, att, pos, labels = _batch(tiny_model, k=k)
    monkeypatch.setattr(tiny_model, "lean_fusion", lean_fusion)
    out = tiny_model.forward_pretrain(images, ids, att, ids, pos, labels, k=k, hard_negatives=hard_negatives)
    assert _without_gradient(tiny_model, out) == set()
    out = tiny_model.forward_finetune(*_batch(tiny_model, k=1)[:3], torch.tensor([0, 0, 1, 2]))
    assert _without_gradient(tiny_model, out) == {
        n for n, _ in tiny_model.named_parameters() if "mlm_head" in n
    }


def test_finetune_forward_has_itc_and_itm(tiny_model):
    images, ids, att, *_ = _batch(tiny_model, b=4, k=1)
    out = tiny_model.forward_finetune(images, ids, att, torch.tensor([0, 0, 1, 2]))
    assert set(out) == {"itc", "itm"} and all(torch.isfinite(v) for v in out.values())


@pytest.mark.parametrize("hard", [True, False])
def test_finetune_itm_negatives_follow_the_similarity_only_when_hard(tiny_model, monkeypatch, hard):
    """Hard: drawn by ITC similarity; uniform (the demo): equal weights, own-image pairs still excluded."""
    from ccrk import losses

    seen = []
    real = losses.hard_negative_indices

    def spy(sim_i2t, sim_t2i, same, *args, **kwargs):
        seen.append((sim_i2t.clone(), same.clone()))
        return real(sim_i2t, sim_t2i, same, *args, **kwargs)

    monkeypatch.setattr(losses, "hard_negative_indices", spy)
    images, ids, att, *_ = _batch(tiny_model, b=4, k=1)
    idx = torch.tensor([0, 0, 1, 2])
    tiny_model.forward_finetune(images, ids, att, idx, hard_negatives=hard)
    ((sim, same),) = seen
    assert torch.equal(same, idx.view(-1, 1) == idx.view(1, -1))
    assert (sim.abs().sum() > 0) if hard else torch.equal(sim, torch.zeros(4, 4))


def test_finetune_itm_negatives_skip_identical_captions_when_asked(tiny_model, monkeypatch):
    from ccrk import losses

    seen = []
    real = losses.hard_negative_indices

    def spy(sim_i2t, sim_t2i, same, *args, **kwargs):
        seen.append(same.clone())
        return real(sim_i2t, sim_t2i, same, *args, **kwargs)

    monkeypatch.setattr(losses, "hard_negative_indices", spy)
    images, ids, att, *_ = _batch(tiny_model, b=4, k=1)
    ids[3], att[3] = ids[2], att[2]  # images 2 and 3 have the same caption
    idx = torch.tensor([0, 0, 1, 2])
    for skip in (False, True):
        tiny_model.forward_finetune(images, ids, att, idx, hard_negatives=False, skip_same_text=skip)
    plain, skipped = seen
    assert torch.equal(plain, idx.view(-1, 1) == idx.view(1, -1))
    expected = plain.clone()
    expected[2, 3] = expected[3, 2] = True
    assert torch.equal(skipped, expected)


def test_newly_initialised_parameters_are_heads_and_cross_attention(tiny_model):
    new = tiny_model.newly_initialised_parameters()
    assert "temp" in new and "itm_head.0.weight" in new and "vision_proj.weight" in new
    assert any(".crossattention." in n for n in new)
    assert not any(n.startswith("text_encoder.") or n.startswith("vision_encoder.") for n in new)
    assert not any(".attention.self." in n for n in new)  # fusion self-attention comes from XLM-R


def test_checkpoint_round_trip(tiny_model, tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny_model, step=3)
    loaded = load_model(path)
    for (n, a), (_, b) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), n
    assert loaded.cfg == tiny_model.cfg
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="model.vision: unknown key"):
        CCRKConfig.from_dict({**TINY_MODEL, "vision": {**TINY_MODEL["vision"], "window": 7}})


def test_length_buckets_do_not_change_the_states(tiny_model):
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(4, 100, (80, 12), generator=g)
    att = torch.zeros_like(ids)
    for i, n in enumerate(torch.randint(3, 13, (80,), generator=g)):
        att[i, :n] = 1
    ids[:, 0] = 0
    ids[att == 0] = 1
    whole = tiny_model._text_layers(ids, att)
    bucketed = tiny_model.text_hidden(ids, att, buckets=4)
    real = att.bool()
    torch.testing.assert_close(bucketed[real], whole[real], rtol=1e-4, atol=1e-5)
