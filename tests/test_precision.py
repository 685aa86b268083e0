"""`precision` per stage (fp32 | fp16 | bf16): what each sets up, and that the setting reaches the training step."""

import warnings

import pytest
import torch

from ccrk import train
from ccrk.config import EvalConfig, FinetuneConfig, PretrainConfig
from ccrk.data.sets import ImageRoots
from ccrk.models import save_checkpoint
from tests.conftest import TINY_MODEL

CUDA = torch.device("cuda")


class _Stop(Exception):
    pass


def _cuda_context(precision):
    with (
        warnings.catch_warnings()
    ):  # a host without CUDA: autocast disables itself; the choice is what counts
        warnings.simplefilter("ignore", UserWarning)
        return train.autocast_context(CUDA, precision)


@pytest.mark.parametrize(
    "precision,dtype,scaled",
    [("fp32", None, False), ("fp16", torch.float16, True), ("bf16", torch.bfloat16, False)],
)
def test_each_precision_on_cuda(monkeypatch, precision, dtype, scaled):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    ctx, scaler = _cuda_context(precision)
    if dtype is None:
        assert not ctx._enabled  # fp32: no autocast at all
    else:
        assert ctx.fast_dtype == dtype
    assert isinstance(scaler, torch.amp.GradScaler) == scaled  # loss scaling for fp16 only


@pytest.mark.parametrize("native_bf16", [False, True])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cpu_trains_fp32_and_fp16_in_fp32(monkeypatch, precision, native_bf16):
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: native_bf16)
    ctx, scaler = train.autocast_context(torch.device("cpu"), precision)
    assert not ctx._enabled and scaler is None
    assert train.describe_precision(precision, ctx, scaler) == (
        "fp32" if precision == "fp32" else "fp16: fp32, float16 autocast is for CUDA only"
    )


def test_cpu_bf16_autocasts_only_with_native_bfloat16(monkeypatch):
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    ctx, scaler = train.autocast_context(torch.device("cpu"), "bf16")
    assert not ctx._enabled and scaler is None
    assert train.describe_precision("bf16", ctx, scaler) == "bf16: fp32, this CPU has no native bfloat16"
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    ctx, scaler = train.autocast_context(torch.device("cpu"), "bf16")
    assert ctx._enabled and ctx.fast_dtype == torch.bfloat16 and scaler is None
    assert train.describe_precision("bf16", ctx, scaler) == "bf16: bfloat16 autocast"
    with ctx:  # the matrix products run in bfloat16, the parameters stay float32
        net = torch.nn.Linear(4, 2)
        assert net(torch.randn(3, 4)).dtype == torch.bfloat16 and net.weight.dtype == torch.float32


def test_cpu_native_bf16_is_read_from_the_cpu(monkeypatch):
    for avx512_bf16, amx, expected in ((False, False, False), (True, False, True), (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert train.cpu_has_native_bf16() is expected


def test_bad_settings_are_refused(monkeypatch):
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'fp16', 'bf16'\), got 'amp'"):
        train.autocast_context(torch.device("cpu"), "amp")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla V100-SXM2-32GB")
    with pytest.raises(ValueError, match="Tesla V100-SXM2-32GB has no native bfloat16; use fp16 or fp32"):
        train.autocast_context(CUDA, "bf16")


@pytest.fixture
def spied_steps(monkeypatch):
    """Records, per optimizer step, the stage's precision, the autocast state inside the forward and the scaler.

    CUDA's autocast is emulated by CPU autocast of the same dtype, so that the path runs on any host.
    """
    seen = []

    def fake_context(device, precision):
        seen.append({"precision": precision})
        if precision == "fp32":
            return torch.autocast("cpu", enabled=False), None
        scaler = torch.amp.GradScaler("cpu") if precision == "fp16" else None
        return torch.autocast("cpu", dtype={"fp16": torch.float16, "bf16": torch.bfloat16}[precision]), scaler

    real_step = train.optimizer_step

    def spy_step(loss, model, optimizer, scaler, grad_clip):
        seen[-1].setdefault("scalers", []).append(scaler)
        real_step(loss, model, optimizer, scaler, grad_clip)
        raise _Stop  # one step shows it (CPU autocast is slow)

    real_data_parallel = train.data_parallel

    def spy_data_parallel(model, loss_fn, device, *args):
        def recording(batch):
            seen[-1].setdefault("autocast", []).append(
                torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
            )
            return loss_fn(batch)

        return real_data_parallel(model, recording, device, *args)

    monkeypatch.setattr(train, "autocast_context", fake_context)
    monkeypatch.setattr(train, "optimizer_step", spy_step)
    monkeypatch.setattr(train, "data_parallel", spy_data_parallel)
    return seen


EXPECTED = {
    "fp32": (None, None),
    "fp16": (torch.float16, torch.amp.GradScaler),
    "bf16": (torch.bfloat16, None),
}


def _check(run: dict, precision: str) -> None:
    dtype, scaler_type = EXPECTED[precision]
    assert run["precision"] == precision and run["autocast"] and set(run["autocast"]) == {dtype}
    assert all((s is None) if scaler_type is None else isinstance(s, scaler_type) for s in run["scalers"])
    assert len(run["scalers"]) == len(run["autocast"]) == 1


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_pretrain_precision_reaches_the_training_step(
    spied_steps, precision, tiny_tokenizer, demo_dataset, tmp_path
):
    from ccrk.pretrain import run_pretraining

    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    cfg = PretrainConfig(
        languages=("en", "de"), batch_size=16, epochs=1, num_workers=0, max_tokens=24, precision=precision
    )
    images = demo_dataset / "images"
    with pytest.raises(_Stop):
        run_pretraining(
            [demo_dataset / "pretrain" / "given.jsonl"],
            images,
            tmp_path / "tok",
            tmp_path / "p.pt",
            TINY_MODEL,
            cfg,
        )
    _check(spied_steps[0], precision)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_finetune_precision_reaches_the_training_step(
    spied_steps, precision, tiny_model, tiny_tokenizer, demo_dataset, tmp_path
):
    from ccrk.finetune import run_finetuning

    save_checkpoint(tmp_path / "init.pt", tiny_model)
    tiny_tokenizer.save_pretrained(tmp_path / "tok")
    ann = demo_dataset / "iglue" / "datasets" / "flickr30k" / "annotations"
    cfg = FinetuneConfig(
        batch_size=16, epochs=1, start_eval=5, num_workers=0, max_tokens=24, precision=precision
    )
    roots = ImageRoots(flickr=str(demo_dataset / "images" / "flickr30k-images"))
    with pytest.raises(_Stop):
        run_finetuning(
            tmp_path / "init.pt",
            tmp_path / "tok",
            [ann / "train_ann.jsonl"],
            [],
            tmp_path / "m.pt",
            cfg,
            EvalConfig(),
            roots=roots,
        )
    _check(spied_steps[0], precision)


def test_the_defaults_are_the_originals():
    assert PretrainConfig().precision == "fp16" and FinetuneConfig().precision == "fp32"


def test_bf16_coarsens_logits_near_100_eight_times_more_than_fp16():
    """README: a step of 0.5 near a 1-to-K logit of 100 in bf16, against 0.0625 in fp16."""
    for dtype, step in ((torch.bfloat16, 0.5), (torch.float16, 0.0625)):
        assert torch.finfo(dtype).eps * 64 == step  # 100 lies in [64, 128)
        assert torch.tensor(100.0 + step, dtype=dtype).item() == 100.0 + step
        assert torch.tensor(100.0 + step / 2 - 1e-3, dtype=dtype).item() == 100.0  # rounds to the grid


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", train.PRECISIONS)
def test_on_cuda_the_forward_runs_in_the_setting(precision, tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 1).cuda()
    data = [(torch.randn(8), torch.randn(1)) for _ in range(8)]
    dtypes, scales = [], []
    real_step = train.optimizer_step

    def loss_fn(batch):
        out = net(batch["x"])
        dtypes.append(out.dtype)
        return {"mse": ((out.float() - batch["y"]) ** 2).mean()}

    def spy_step(loss, model, optimizer, scaler, grad_clip):
        scales.append(scaler.get_scale() if scaler else None)
        real_step(loss, model, optimizer, scaler, grad_clip)

    def batches(epoch, start):
        collate = lambda b: {"x": torch.stack([x for x, _ in b]), "y": torch.stack([y for _, y in b])}  # noqa: E731
        return train.epoch_loader(data, 4, collate, seed=0, epoch=epoch, start_batch=start)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train, "optimizer_step", spy_step)
        train.train_loop(
            net,
            loss_fn,
            batches,
            2,
            2,
            train.OptimConfig(lr=0.1),
            tmp_path / "s",
            device=CUDA,
            precision=precision,
        )
    assert set(dtypes) == {{"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]}
    assert all((s is None) == (precision != "fp16") for s in scales) and len(scales) == 4


def test_cpu_bf16_pretraining_step_matches_fp32_at_bfloat16_rounding(monkeypatch):
    """Every op of the pretraining forward runs under CPU bf16 autocast; losses near fp32's, gradients finite."""
    import copy
    import importlib.util

    from ccrk.models import CCRKConfig, CCRKModel
    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("gpu_step", REPO / "bench" / "gpu_full_model_step.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model_dict = copy.deepcopy(TINY_MODEL)
    model_dict["text"]["vocab_size"] = 60
    cfg = CCRKConfig.from_dict(model_dict)
    batch = bench.synthetic_batch(cfg, 4, 3, 12, "cpu")
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)  # autocast runs anywhere, only slower
    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = CCRKModel(cfg).train()
        ctx, _ = train.autocast_context(torch.device("cpu"), precision)
        torch.manual_seed(1)  # the ITM samplers draw alike
        with ctx:
            keys = ("images", "input_ids", "attention_mask", "masked_ids", "masked_pos", "masked_labels")
            parts = model.forward_pretrain(*(batch[k] for k in keys), 3)
        sum(parts.values()).backward()
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
        losses[precision] = {k: v.item() for k, v in parts.items()}
    assert set(losses["bf16"]) == {"itc", "itm", "mlm"} and losses["bf16"] != losses["fp32"]  # bf16 did run
    for k, v in losses["fp32"].items():
        assert losses["bf16"][k] == pytest.approx(v, rel=3e-2)
