"""Optimiser, schedule and a resumable training loop shared by pretraining and fine-tuning.

The recipe: docs/method.md#optimiser-schedule-precision.
"""

import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from ccrk.config import OptimConfig  # noqa: F401  (callers import it from here too)
from ccrk.distributed import any_rank, gather_grad, rank, world_size
from ccrk.resume import (
    LoopState,
    Preempted,
    decorrelate_ranks,
    fingerprint,  # noqa: F401  (pretrain/finetune import it from here)
    load_state,
    read_state,
    save_state,
    sigterm_requested,
)

log = logging.getLogger("ccrk.train")


# CCLM/CCRK optim.py: a name containing any of these skips weight decay (so does relative_position_bias_table)
NO_DECAY = (
    "bias",
    "LayerNorm.bias",
    "LayerNorm.weight",
    "norm.bias",
    "norm.weight",
    "norm1.bias",
    "norm1.weight",
    "norm2.bias",
    "norm2.weight",
)


def _no_decay(name: str) -> bool:
    return any(part in name for part in NO_DECAY)


def param_groups(model: torch.nn.Module, cfg: OptimConfig, new_params: set[str]) -> list[dict]:
    """Four groups, {decay, no decay} x {lr, lr * lr_mult}; `temp` keeps its decay as in the original.

    See docs/method.md#optimiser-schedule-precision.
    """
    groups: dict[tuple[bool, bool], list] = {(d, n): [] for d in (True, False) for n in (False, True)}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups[(not _no_decay(name), name in new_params)].append(p)
    return [
        {
            "params": ps,
            "weight_decay": cfg.weight_decay if decay else 0.0,
            "lr": cfg.lr * (cfg.lr_mult if new else 1.0),
        }
        for (decay, new), ps in groups.items()
        if ps
    ]


def build_optimizer(
    model, cfg: OptimConfig, new_params: set[str] = frozenset(), fused: bool | None = None
) -> torch.optim.AdamW:
    """AdamW over `param_groups`; fused (one kernel over all tensors) where torch has it for the device.

    fused=None picks it when every parameter is on CPU or CUDA (bench/train_step.py: the same update, to
    float rounding, in less time than the default multi-tensor loop); False is torch's default path.
    """
    groups = param_groups(model, cfg, set(new_params))
    if fused is None:
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in model.parameters())
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=fused or None)


def warmup_steps(warmup: float, total_steps: int) -> int:
    return int(warmup * total_steps) if warmup < 1 else int(warmup)


def linear_schedule(optimizer, warmup: float, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0, then linear decay to 0 at `total_steps`; stepped every iteration."""
    n_warm = warmup_steps(warmup, total_steps)

    def factor(step: int) -> float:
        if step < n_warm:
            return step / max(1, n_warm)
        return max(0.0, (total_steps - step) / max(1, total_steps - n_warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class EpochSampler(Sampler):
    """A seeded permutation per epoch, split across ranks, that can start mid-epoch (exact resume).

    `permutation(seed)` gives another order (e.g. look-alike batches); its batches are then dealt to ranks whole.
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, epoch: int, start_batch: int = 0, permutation=None
    ):
        self.n, self.batch_size, self.seed, self.epoch, self.start = n, batch_size, seed, epoch, start_batch
        self.permutation, self._indices = permutation, None

    def indices(self) -> list[int]:
        if self._indices is None:  # DataLoader asks len() and iter(): a look-alike order is built once
            self._indices = self._build()
        return self._indices

    def _build(self) -> list[int]:
        b, seed = self.batch_size, self.seed * 1000003 + self.epoch
        if self.permutation is None:
            perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(seed)).tolist()
            per_rank = perm[rank() :: world_size()]
        else:
            perm = self.permutation(seed)
            batches = [perm[i : i + b] for i in range(0, len(perm) - b + 1, b)]
            per_rank = [i for batch in batches[rank() :: world_size()] for i in batch]
        usable = steps_per_epoch(self.n, b) * b  # drop_last: full contrastive batches, as many on every rank
        return per_rank[self.start * b : usable]

    def __iter__(self):
        return iter(self.indices())

    def __len__(self):
        return len(self.indices())


def steps_per_epoch(n: int, batch_size: int) -> int:
    return (n // world_size()) // batch_size


def epoch_loader(
    dataset, batch_size, collate, seed, epoch, start_batch=0, num_workers=0, permutation=None
) -> DataLoader:
    sampler = EpochSampler(len(dataset), batch_size, seed, epoch, start_batch, permutation)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate,
        drop_last=True,
        num_workers=num_workers,
        persistent_workers=False,
    )


PRECISIONS = ("fp32", "fp16", "bf16")  # a stage's `precision` setting
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX), where bf16 autocast pays."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def autocast_context(device: torch.device, precision: str):
    """(autocast context, GradScaler or None) of a stage's `precision` (docs/method.md#optimiser-schedule-precision).

    fp32: neither; fp16: float16 autocast and a GradScaler (unscaled before clipping, `optimizer_step`); bf16:
    bfloat16 autocast, no scaler. On CPU, bf16 autocasts only where the CPU has native bfloat16
    (`cpu_has_native_bf16`; elsewhere bfloat16 is converted in software); fp16, and bf16 elsewhere, train in fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device.type == "cpu" and precision == "bf16" and cpu_has_native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16), None
    if device.type != "cuda" or precision == "fp32":
        return torch.autocast(device.type, enabled=False), None
    if precision == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ValueError(
            f"precision bf16: {torch.cuda.get_device_name(device)} has no native bfloat16; use fp16 or fp32"
        )
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return torch.autocast("cuda", dtype=_DTYPES[precision]), scaler


def describe_precision(precision: str, autocast, scaler) -> str:
    """What a precision setting does here, for the log: e.g. "fp16: float16 autocast, grad scaler"."""
    if not autocast._enabled:
        if precision == "fp32":
            return precision
        why = (
            "this CPU has no native bfloat16" if precision == "bf16" else "float16 autocast is for CUDA only"
        )
        return f"{precision}: fp32, {why}"
    dtype = str(autocast.fast_dtype).removeprefix("torch.")
    return f"{precision}: {dtype} autocast{', grad scaler' if scaler else ''}"


def optimizer_step(loss, model, optimizer, scaler, grad_clip: float) -> None:
    """Backward, unscale (fp16), clip the global grad norm, step (docs/method.md#optimiser-schedule-precision)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


class _Objective(torch.nn.Module):
    """The model with its loss as one module, so that DDP sees every forward and averages the gradients."""

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[dict], dict[str, torch.Tensor]]):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        return self.loss_fn(batch)


def data_parallel(
    model, loss_fn, device: torch.device, find_unused_parameters: bool = True
) -> torch.nn.Module:
    """model + loss as one module; under DDP when this process is one of several.

    `find_unused_parameters` (DDP's flag, the original's setting): needed where the loss leaves parameters
    without a gradient (fine-tuning: the MLM head); where every parameter gets one (pretraining), False spares
    DDP a walk over the autograd graph at every step, and its warning that the walk found nothing.
    """
    objective = _Objective(model, loss_fn)
    if world_size() == 1:
        return objective
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        objective, device_ids=ids, find_unused_parameters=find_unused_parameters
    )


def train_loop(
    model: torch.nn.Module,
    loss_fn: Callable[[dict], dict[str, torch.Tensor]],
    batches: Callable[[int, int], Iterable[dict]],
    steps_per_epoch: int,
    epochs: int,
    optim_cfg: OptimConfig,
    state_path,
    new_params: set[str] = frozenset(),
    save_every: int = 0,
    on_epoch_end: Callable[[int, LoopState], None] | None = None,
    device: torch.device = torch.device("cpu"),
    log_every: int = 20,
    run_id: str = "",
    gather_grad_mode: str = "full",
    precision: str = "fp32",
    find_unused_parameters: bool = True,
) -> LoopState:
    """Train for epochs x steps_per_epoch optimizer steps, resuming from `state_path` if it exists.

    batches(epoch, start_batch) yields this rank's batches of an epoch from a given position, so a resumed
    run sees exactly the batches an uninterrupted one would. The state is saved every `save_every` steps
    and at each epoch end, atomically, tagged with `run_id` (see `fingerprint`): a state left by a run with
    other settings is ignored, never resumed. SIGTERM saves the state and raises `Preempted`. In a process
    group the model runs under DDP; `gather_grad_mode` picks the backward of the feature all-gather
    (ccrk.distributed.all_gather_with_grad). `precision` (fp32, fp16, bf16): see `autocast_context`.
    `find_unused_parameters`: see `data_parallel`.
    """
    total = epochs * steps_per_epoch
    if total <= 0:
        raise ValueError(
            f"nothing to train: {epochs} epochs x {steps_per_epoch} steps (dataset smaller than a batch?)"
        )
    run = _TrainingRun.start(model, optim_cfg, new_params, total, device, precision, state_path, run_id)
    step_fn = data_parallel(model, loss_fn, device, find_unused_parameters)
    run.log_start()
    model.train()
    run.t0 = time.time()
    with sigterm_requested() as sigterm:
        while run.state.step < total:
            epoch, start = divmod(run.state.step, steps_per_epoch)
            for batch in _take(batches(epoch, start), steps_per_epoch - start):
                parts = run.step(step_fn, batch, gather_grad_mode)
                run.log_step(parts, epoch, log_every)
                run.save_or_stop(any_rank(sigterm[0]), save_every, steps_per_epoch)
            if run.state.step % steps_per_epoch == 0:
                run.end_epoch(epoch, on_epoch_end)
    run.log_end()
    model.eval()
    return run.state


@dataclass
class _TrainingRun:
    """What one call of `train_loop` moves: model, optimiser, schedule, AMP and the resumable state."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    precision: str  # the stage's setting: fp32 | fp16 | bf16
    autocast: object  # the autocast context of every forward
    scaler: torch.amp.GradScaler | None  # fp16 only
    state: LoopState
    state_path: object
    run_id: str
    total: int  # optimizer steps of the whole run
    device: torch.device
    grad_clip: float
    first: int = 0  # the step this process started at (> 0 when resumed)
    t0: float = 0.0  # when this process's first step began (for steps/s)

    @classmethod
    def start(cls, model, optim_cfg: OptimConfig, new_params, total, device, precision, state_path, run_id):
        """Optimiser, schedule and AMP for `total` steps, restored from `state_path` if it holds this run."""
        optimizer = build_optimizer(model, optim_cfg, new_params)
        scheduler = linear_schedule(optimizer, optim_cfg.warmup, total)
        autocast, scaler = autocast_context(device, precision)
        state = LoopState(extra={})
        saved = read_state(state_path, run_id)
        if saved is not None:
            state = load_state(saved, model, optimizer, scheduler, scaler)
            log.info("resuming from %s at step %d of %d", state_path, state.step, total)
            del saved
        else:
            decorrelate_ranks()
        return cls(
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            precision=precision,
            autocast=autocast,
            scaler=scaler,
            state=state,
            state_path=state_path,
            run_id=run_id,
            total=total,
            device=device,
            grad_clip=optim_cfg.grad_clip,
            first=state.step,
        )

    def log_start(self) -> None:
        log.info(
            "training on %s (precision %s) in %d process(es): steps %d-%d of %d",
            self.device,
            describe_precision(self.precision, self.autocast, self.scaler),
            world_size(),
            self.first + 1,
            self.total,
            self.total,
        )

    def step(self, step_fn, batch: dict, gather_grad_mode: str) -> dict[str, torch.Tensor]:
        """One optimizer step on one batch; the loss parts, as the loss function returned them."""
        with gather_grad(gather_grad_mode), self.autocast:
            parts = step_fn(_to_device(batch, self.device))
        loss = sum(parts.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {self.state.step}: {_fmt(parts)}")
        optimizer_step(loss, self.model, self.optimizer, self.scaler, self.grad_clip)
        self.scheduler.step()
        self.state.step += 1
        return parts

    def log_step(self, parts: dict, epoch: int, log_every: int) -> None:
        if self.state.step % log_every == 0 or self.state.step == self.total:
            rate = (self.state.step - self.first) / max(1e-9, time.time() - self.t0)
            log.info(
                "step %d/%d epoch %d lr %.2e %s (%.1f steps/s)",
                self.state.step,
                self.total,
                epoch,
                self.scheduler.get_last_lr()[0],
                _fmt(parts),
                rate,
            )

    def save(self) -> None:
        save_state(
            self.state_path, self.model, self.optimizer, self.scheduler, self.scaler, self.state, self.run_id
        )

    def save_or_stop(self, stop: bool, save_every: int, steps_per_epoch: int) -> None:
        """Save every `save_every` steps inside an epoch (its end saves anyway); on SIGTERM save and stop.

        `stop` must be the same on every rank (`any_rank`): every rank stops after the same step.
        """
        step = self.state.step
        if stop or (save_every and step % save_every == 0 and step % steps_per_epoch):
            self.save()
        if stop:
            log.warning(
                "SIGTERM: saved the state at step %d of %d to %s; rerun to resume",
                step,
                self.total,
                self.state_path,
            )
            raise Preempted(
                f"stopped by SIGTERM after step {step} of {self.total}; state in {self.state_path}"
            )

    def end_epoch(self, epoch: int, on_epoch_end) -> None:
        """The caller's epoch-end work (e.g. validation) in eval mode, then a save."""
        if on_epoch_end:
            self.model.eval()
            on_epoch_end(epoch, self.state)
            self.model.train()
        self.save()

    def log_end(self) -> None:
        log.info(
            "trained steps %d-%d of %d in this run (%s)",
            self.first + 1,
            self.total,
            self.total,
            f"resumed at step {self.first}" if self.first else "from the start",
        )


def numbered(batches: Callable[[int, int], Iterable[dict]], steps_per_epoch: int):
    """`batches(epoch, start)` whose every batch also holds its optimizer step over the run, 0-based, as "step".

    What a loss that changes over training reads (`ccrk.losses.hardness_at`); a resumed run numbers its
    batches as an uninterrupted one.
    """

    def numbered_batches(epoch: int, start: int) -> Iterator[dict]:
        for i, batch in enumerate(batches(epoch, start)):
            yield {**batch, "step": epoch * steps_per_epoch + start + i}

    return numbered_batches


def _take(it, n) -> Iterator:
    for i, x in enumerate(it):
        if i >= n:
            return
        yield x


def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _fmt(parts: dict) -> str:
    return " ".join(f"{k} {v.item():.4f}" for k, v in parts.items())


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_threads(requested: int) -> int:
    """Torch threads for a job: what Snakemake granted, never more than the machine has."""
    n = max(1, min(int(requested), os.cpu_count() or 1))
    torch.set_num_threads(n)
    return n


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
