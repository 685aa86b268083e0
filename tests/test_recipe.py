"""The paper's training recipe: AdamW groups, x2 for new parameters, schedule, clipping, precision."""

import pytest
import torch

from ccrk import train
from ccrk.models import CCRKConfig, CCRKModel
from ccrk.train import OptimConfig, build_optimizer, linear_schedule, train_loop
from tests.conftest import TINY_MODEL

PAPER = OptimConfig(lr=1e-4, weight_decay=0.01, lr_mult=2.0)


@pytest.fixture(scope="module")
def model():
    cfg = CCRKConfig.from_dict(TINY_MODEL)
    cfg.text.vocab_size = 50
    torch.manual_seed(0)
    return CCRKModel(cfg)


def _group_of(optimizer) -> dict[int, tuple[float, float]]:
    return {id(p): (g["weight_decay"], g["lr"]) for g in optimizer.param_groups for p in g["params"]}


def test_adamw_as_ccrk_optim_py(model):
    opt = build_optimizer(model, PAPER, model.newly_initialised_parameters())
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["betas"] == (0.9, 0.98) and opt.defaults["eps"] == 1e-8
    n_params = sum(len(g["params"]) for g in opt.param_groups)
    assert n_params == len(list(model.parameters()))  # each parameter in exactly one group
    assert len(opt.param_groups) == 4


@pytest.mark.parametrize(
    "name,decay,new",
    [
        # names containing bias / LayerNorm.* / norm[12].* skip decay (CCRK optim.py), the Swin tables included
        ("vision_encoder.swin.layers.0.blocks.0.attn.relative_position_bias_table", False, False),
        ("vision_encoder.swin.layers.0.blocks.0.attn.qkv.weight", True, False),
        ("vision_encoder.swin.layers.0.blocks.0.norm1.weight", False, False),
        ("vision_encoder.swin.patch_embed.norm.weight", False, False),
        ("vision_encoder.swin.norm.weight", False, False),
        ("text_encoder.embeddings.word_embeddings.weight", True, False),
        ("text_encoder.embeddings.LayerNorm.weight", False, False),
        ("text_encoder.encoder.layer.0.attention.self.query.bias", False, False),
        ("fusion_encoder.layer.0.attention.self.query.weight", True, False),
        # what XLM-R and Swin do not provide learns at lr x 2: cross-attention, projections, temp, ITM head
        ("fusion_encoder.layer.0.crossattention.self.key.weight", True, True),
        ("fusion_encoder.layer.0.crossattention.output.LayerNorm.weight", False, True),
        ("vision_proj.weight", True, True),
        ("text_proj.bias", False, True),
        ("temp", True, True),  # not in the no-decay list: decayed, as in the original
        ("itm_head.1.weight", True, True),  # the ITM LayerNorm is `itm_head.1`: no name match, decayed
        ("mlm_head.bias", False, False),
        ("mlm_head.LayerNorm.weight", False, False),
    ],
)
def test_param_groups(model, name, decay, new):
    params = dict(model.named_parameters())
    opt = build_optimizer(model, PAPER, model.newly_initialised_parameters())
    assert _group_of(opt)[id(params[name])] == (0.01 if decay else 0.0, 2e-4 if new else 1e-4)


def test_finetuning_uses_one_learning_rate(model):
    opt = build_optimizer(model, OptimConfig(lr=3e-5, lr_mult=1.0), model.newly_initialised_parameters())
    assert {g["lr"] for g in opt.param_groups} == {3e-5}


@pytest.mark.parametrize(
    "warmup,total,n_warm",
    [
        (0.03006253006253006, 30 * 25855, 23318),  # CCRK 3M: a fraction of all steps
        (2500, 30 * 22174, 2500),  # CCLM: steps
    ],
)
def test_linear_warmup_then_linear_decay_at_paper_scale(warmup, total, n_warm):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    factor = linear_schedule(opt, warmup, total).lr_lambdas[0]
    assert factor(0) == 0.0 and factor(n_warm // 2) == pytest.approx((n_warm // 2) / n_warm)
    assert factor(n_warm) == 1.0 and factor(n_warm - 1) < 1.0
    mid = (n_warm + total) // 2
    assert factor(mid) == pytest.approx((total - mid) / (total - n_warm))
    assert factor(total) == 0.0


def test_train_loop_steps_the_schedule_and_clips_every_iteration(tmp_path, monkeypatch):
    """5 steps x 2 epochs, warm-up 2: the lr at each clip follows the schedule; every update is clipped at 0.5."""
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 1)
    seen = []
    real_clip = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        params = list(params)
        total = real_clip(params, max_norm, *args, **kwargs)
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])).item()
        seen.append((max_norm, total.item(), after, opt_lr()))
        return total

    opt_lr = None

    def build(model, cfg, new_params=frozenset()):
        nonlocal opt_lr
        opt = build_optimizer(model, cfg, new_params)
        opt_lr = lambda: opt.param_groups[0]["lr"]  # noqa: E731
        return opt

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    monkeypatch.setattr(train, "build_optimizer", build)
    x = torch.randn(20, 4) * 100  # large inputs: every gradient norm far above the clip
    batches = lambda e, s: [{"x": x[i * 4 : i * 4 + 4]} for i in range(s, 5)]  # noqa: E731
    train_loop(
        net,
        lambda b: {"mse": ((net(b["x"]) - 1) ** 2).mean()},
        batches,
        steps_per_epoch=5,
        epochs=2,
        optim_cfg=OptimConfig(lr=1.0, warmup=2, grad_clip=0.5),
        state_path=tmp_path / "s",
    )
    assert [s[0] for s in seen] == [0.5] * 10
    assert all(before > 0.5 and after == pytest.approx(0.5, rel=1e-4) for _, before, after, _ in seen)
    assert [s[3] for s in seen] == pytest.approx(
        [0.0, 0.5, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]
    )


def test_fp16_path_unscales_before_clipping(monkeypatch):
    norms = []
    real_clip = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        total = real_clip(params, max_norm, *args, **kwargs)
        norms.append(total.item())
        return total

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0**12)):
        torch.manual_seed(0)
        net = torch.nn.Linear(4, 1)
        loss = ((net(torch.ones(2, 4)) - 3) ** 2).mean()
        train.optimizer_step(loss, net, torch.optim.AdamW(net.parameters()), scaler, 1.0)
    assert norms[0] > 1.0 and norms[1] == pytest.approx(norms[0], rel=1e-5)  # the 4096x scale undone first


def test_caption_num_keeps_that_many_languages_in_config_order(tiny_tokenizer):
    from ccrk.data.masking import MaskingConfig
    from ccrk.data.pretrain_dataset import PretrainCollator

    k, c, n_batches = 10, 3, 60
    langs = [" ".join(["a"] * (i + 1)) for i in range(k)]  # language i: i + 1 words, one token each
    assert len(tiny_tokenizer(langs[2])["input_ids"]) == 3 + 2
    collate = PretrainCollator(tiny_tokenizer, 16, 16, MaskingConfig(), caption_num=c, seed=1)
    chosen = torch.zeros(k, dtype=torch.long)
    for _ in range(n_batches):
        out = collate([(torch.zeros(3, 2, 2), langs) for _ in range(4)])
        assert out["input_ids"].shape[0] == 4 * c and out["k"] == c
        lang_of_row = (out["attention_mask"].sum(1) - 3).tolist()  # tokens - <s> - </s> - 1
        for image in range(4):
            idx = lang_of_row[image * c : (image + 1) * c]
            assert idx == sorted(set(idx))  # c distinct languages, in the configured order
            chosen[idx] += 1
    share = chosen.float() / (4 * n_batches)
    assert torch.allclose(share, torch.full((k,), c / k), atol=0.1)  # uniform: each kept 30 % of the time


def test_pretrain_steps_refuse_an_epoch_larger_than_the_corpus():
    from ccrk.pretrain import pretrain_steps_per_epoch

    assert pretrain_steps_per_epoch(1000, 64) == 15
    assert pretrain_steps_per_epoch(1000, 64, epoch_size=700) == 11  # ceil(700 / 64), as CCRK
    with pytest.raises(ValueError, match="epoch_size 1001"):
        pretrain_steps_per_epoch(1000, 64, epoch_size=1001)
