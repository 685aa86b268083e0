"""Optimiser groups, the warm-up/decay schedule, and exact resume after a kill."""

import pytest
import torch
from torch import nn

from ccrk.train import (
    EpochSampler,
    OptimConfig,
    build_optimizer,
    epoch_loader,
    linear_schedule,
    numbered,
    param_groups,
    train_loop,
)


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(3, 1)
        self.LayerNorm = nn.LayerNorm(3)
        self.head = nn.Linear(3, 1)


def test_param_groups_split_decay_and_new_parameters():
    groups = param_groups(
        Toy(), OptimConfig(lr=1.0, weight_decay=0.1, lr_mult=2.0), {"head.weight", "head.bias"}
    )
    by = {(g["weight_decay"], g["lr"]): len(g["params"]) for g in groups}
    assert by == {(0.1, 1.0): 1, (0.0, 1.0): 3, (0.1, 2.0): 1, (0.0, 2.0): 1}


@pytest.mark.parametrize("warmup,n_warm", [(0.1, 10), (5, 5)])
def test_linear_schedule(warmup, n_warm):
    opt = build_optimizer(Toy(), OptimConfig(lr=1.0))
    sched = linear_schedule(opt, warmup, 100)
    lrs = []
    for _ in range(100):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[n_warm] == pytest.approx(1.0)
    assert lrs[n_warm // 2] == pytest.approx((n_warm // 2) / n_warm)
    assert lrs[-1] == pytest.approx(1 / (100 - n_warm))  # linear decay reaches 0 at step 100


def test_epoch_sampler_start_is_a_suffix_and_epochs_differ():
    full = EpochSampler(10, 3, seed=1, epoch=0).indices()
    assert len(full) == 9  # drop_last
    assert EpochSampler(10, 3, seed=1, epoch=0, start_batch=2).indices() == full[6:]
    assert EpochSampler(10, 3, seed=1, epoch=1).indices() != full


class _Killed(Exception):
    pass


def _run(state_path, kill_at=None, run_id=""):
    torch.manual_seed(0)
    model = Toy()
    data = [(torch.randn(3), torch.randn(1)) for _ in range(20)]
    collate = lambda b: {"x": torch.stack([x for x, _ in b]), "y": torch.stack([y for _, y in b])}  # noqa: E731
    seen = []

    def loss_fn(batch):
        if kill_at is not None and len(seen) == kill_at:
            raise _Killed()
        seen.append(batch["x"].sum().item())
        return {"mse": ((model.head(model.LayerNorm(batch["x"])) - batch["y"]) ** 2).mean()}

    def batches(epoch, start):
        return epoch_loader(data, 4, collate, seed=5, epoch=epoch, start_batch=start)

    state = train_loop(
        model,
        loss_fn,
        batches,
        steps_per_epoch=5,
        epochs=3,
        optim_cfg=OptimConfig(lr=0.1),
        state_path=state_path,
        save_every=2,
        run_id=run_id,
    )
    return model, state, seen


def test_resume_after_kill_gives_the_same_model(tmp_path):
    ref, ref_state, ref_seen = _run(tmp_path / "a.state")
    with pytest.raises(_Killed):
        _run(tmp_path / "b.state", kill_at=7)  # killed in epoch 1, after the step-6 save
    resumed, state, seen = _run(tmp_path / "b.state")
    assert state.step == ref_state.step == 15
    assert seen == ref_seen[6:]  # resumed at step 6 and saw exactly the batches an uninterrupted run sees
    for a, b in zip(ref.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b)


def test_train_loop_rejects_an_empty_schedule(tmp_path):
    with pytest.raises(ValueError, match="nothing to train"):
        train_loop(Toy(), lambda b: {}, lambda e, s: [], 0, 3, OptimConfig(), tmp_path / "s")


def test_a_state_from_other_settings_is_not_resumed(tmp_path, caplog):
    with pytest.raises(_Killed):
        _run(tmp_path / "c.state", kill_at=7)  # leaves a state at step 6
    _, state, seen = _run(tmp_path / "c.state", run_id="other-settings")
    assert state.step == 15 and len(seen) == 15  # started over instead of resuming at step 6
    assert "belongs to a different run" in caplog.text


def test_a_state_saved_by_another_process_count_is_not_resumed(tmp_path, caplog):
    """Each rank's share of an epoch and the steps per epoch depend on the process count: such a state would
    resume other batches, so the run starts over (ccrk.resume.read_state)."""
    path = tmp_path / "w.state"
    with pytest.raises(_Killed):
        _run(path, kill_at=7)  # leaves a state at step 6, saved by this 1 process
    saved = torch.load(path, weights_only=False)
    assert (saved["step"], saved["world_size"]) == (6, 1)
    torch.save({**saved, "world_size": 2}, path)  # as if 2 processes had written it
    _, state, seen = _run(path)
    assert state.step == 15 and len(seen) == 15  # from step 0, every batch
    assert "it was saved by 2 processes, this run has 1" in caplog.text
    torch.save({**saved, "world_size": 1}, path)  # the same state from 1 process resumes at step 6
    _, state, seen = _run(path)
    assert len(seen) == 15 - 6


def test_numbered_batches_carry_their_step_over_the_run_also_when_resumed():
    def batches(epoch, start):
        return ({"x": (epoch, b)} for b in range(start, 3))

    steps = numbered(batches, 3)
    assert [b["step"] for b in steps(0, 0)] == [0, 1, 2]
    assert [(b["x"], b["step"]) for b in steps(2, 1)] == [((2, 1), 7), ((2, 2), 8)]  # epoch 2 from batch 1
