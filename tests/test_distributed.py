"""Distributed training: ranks from torchrun/SLURM, launcher commands, and DDP with gloo against one process."""

import os
import signal
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ccrk import launch
from ccrk.distributed import (
    DistEnv,
    all_gather_with_grad,
    dist_env_from_environ,
    first_host,
    gather_grad,
    rank,
    rendezvous_environ,
    world_size,
)
from ccrk.losses import one_to_k_contrastive_loss
from ccrk.resume import Preempted
from ccrk.train import OptimConfig, data_parallel, epoch_loader, train_loop
from tests.conftest import REPO

K, B, W = 3, 4, 2  # languages, images per rank, ranks


def test_rank_comes_from_torchrun_then_slurm_else_one_process():
    assert dist_env_from_environ(
        {"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "SLURM_PROCID": "0"}
    ) == DistEnv(3, 1, 8)
    task = {"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8", "SLURM_STEP_ID": "0"}  # srun -n 8
    assert dist_env_from_environ(task) == DistEnv(5, 1, 8)
    assert dist_env_from_environ({**task, "SLURM_STEP_NUM_TASKS": "4"}) == DistEnv(5, 1, 4)
    # the batch script of an --ntasks=8 job (no step) and a one-task step are single processes
    assert (
        dist_env_from_environ({"SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NTASKS": "8"}) == DistEnv()
    )
    assert (
        dist_env_from_environ({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_STEP_ID": "0"}) == DistEnv()
    )
    assert dist_env_from_environ({}) == DistEnv()


def test_rendezvous_from_the_slurm_node_list():
    assert first_host("gpu[03-05,07],cpu1") == "gpu03"
    assert first_host("node7,node[1-2]") == "node7"
    assert first_host("rack[2-3]-n[08-09]") == "rack2-n08"
    env = {"SLURM_STEP_NODELIST": "gpu[12-13]", "SLURM_JOB_NODELIST": "gpu[11-13]", "SLURM_JOB_ID": "123456"}
    assert rendezvous_environ(env) == {"MASTER_ADDR": "gpu12", "MASTER_PORT": str(20000 + 123456 % 20000)}
    assert rendezvous_environ({**env, "MASTER_ADDR": "h", "MASTER_PORT": "1"}) == {}  # what the user set wins


@pytest.mark.parametrize(
    "resources,procs",
    [({"gpu": 4}, 4), ({"gres": "gpu:a100:2"}, 2), ({"gres": "gpu:3"}, 3), ({"gres": "gpu"}, 1), ({}, 0)],
)
def test_gpus_requested(resources, procs):
    assert launch.gpus_requested(resources) == procs


def test_launch_commands_for_one_gpu_one_node_and_several_nodes():
    py = sys.executable
    assert launch.launch_command({"gpu": 1, "mem_mb": 1000}, "s.pkl") is None  # runs in the job's own process
    assert launch.launch_command({}, "s.pkl") is None
    assert launch.launch_command({"gpu": 4}, "s.pkl") == [
        py,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        "--nproc-per-node=4",
        "-m",
        "ccrk.launch",
        "s.pkl",
    ]
    assert launch.launch_command({"gres": "gpu:a100:2"}, "s.pkl")[5] == "--nproc-per-node=2"
    # the plugin's MPI path: one task per GPU, `{mpi} -n {tasks}` as in its documentation
    assert launch.launch_command({"mpi": "srun", "tasks": 8, "gpu": 8}, "s.pkl") == [
        "srun",
        "-n",
        "8",
        "--kill-on-bad-exit=1",
        py,
        "-m",
        "ccrk.launch",
        "s.pkl",
    ]
    assert launch.launch_command(
        {"mpi": "srun", "nodes": 2, "tasks_per_node": 4, "gres": "gpu:4"}, "s.pkl"
    ) == ["srun", "-n", "8", "--ntasks-per-node=4", "--kill-on-bad-exit=1", py, "-m", "ccrk.launch", "s.pkl"]
    assert launch.launch_command({"mpi": "mpirun --bind-to none", "tasks": 2}, "s.pkl")[:4] == [
        "mpirun",
        "--bind-to",
        "none",
        "-n",
    ]


# -- DDP against one process -----------------------------------------------------------------------
class Encoders(nn.Module):
    """Two projections and the temperature: the parameters the 1-to-K loss trains."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.vision_proj = nn.Linear(6, 4)
        self.text_proj = nn.Linear(5, 4)
        self.temp = nn.Parameter(torch.tensor(0.07))

    def loss(self, batch):
        img = F.normalize(self.vision_proj(batch["img"]), dim=-1)
        txt = F.normalize(self.text_proj(batch["txt"]), dim=-1)
        return {
            "itc": one_to_k_contrastive_loss(
                all_gather_with_grad(img), all_gather_with_grad(txt), self.temp, K
            )
        }


def _global_batch(n=B * W):
    g = torch.Generator().manual_seed(1)
    return {"img": torch.randn(n, 6, generator=g), "txt": torch.randn(n * K, 5, generator=g)}


def _dataset(n=24):
    g = torch.Generator().manual_seed(2)
    return [(torch.randn(6, generator=g), torch.randn(K, 5, generator=g)) for _ in range(n)]


def _collate(items):
    return {"img": torch.stack([i for i, _ in items]), "txt": torch.cat([t for _, t in items])}  # image-major


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def _train(model, state_path, batch_size, save_every=0, loss=None):
    data = _dataset()
    return train_loop(
        model,
        loss or model.loss,
        lambda e, s: epoch_loader(data, batch_size, _collate, 3, e, s),
        steps_per_epoch=len(data) // W // B,
        epochs=2,
        optim_cfg=OptimConfig(lr=0.05, warmup=0),
        state_path=state_path,
        save_every=save_every,
        gather_grad_mode="full",
    )


def ddp_worker(out_dir, device):
    """Runs in each of the W processes torchrun starts: one gradient per gather mode, then a short training."""
    torch.set_num_threads(1)
    r, batch = rank(), _global_batch()
    local = {"img": batch["img"][r * B : (r + 1) * B], "txt": batch["txt"][r * B * K : (r + 1) * B * K]}
    out = {"world_size": world_size()}
    for mode in ("full", "local"):
        model = Encoders()
        step = data_parallel(model, model.loss, torch.device(device))
        with gather_grad(mode):
            loss = step(local)["itc"]
        loss.backward()
        out[mode] = {"loss": loss.item(), "grads": _grads(model)}
    model = Encoders()
    _train(model, os.path.join(out_dir, "state"), B, save_every=3)
    out["trained"] = {n: p.detach().clone() for n, p in model.named_parameters()}

    model, calls = Encoders(), []

    def loss_sigterm_on_rank1(batch):
        calls.append(1)
        if r == 1 and len(calls) == 2:  # only rank 1's node is preempted, during step 2
            os.kill(os.getpid(), signal.SIGTERM)
        return model.loss(batch)

    try:
        _train(model, os.path.join(out_dir, "preempted.state"), B, loss=loss_sigterm_on_rank1)
    except Preempted:
        out["preempted_after"] = len(calls)  # steps this rank ran before stopping
    torch.save(out, os.path.join(out_dir, f"rank{r}.pt"))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """Two gloo processes started by the real launcher: torchrun --standalone, as a job with gpu=2 gets."""
    out = tmp_path_factory.mktemp("ddp")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(REPO / "tests")]
    )  # the workers import this module
    try:
        launch.run(ddp_worker, (str(out),), {}, {"gpu": W}, spec_path=out / "spec.pkl", threads=W)
    finally:
        os.environ.pop("PYTHONPATH") if old is None else os.environ.update(PYTHONPATH=old)
    return out, [torch.load(out / f"rank{r}.pt") for r in range(W)]


def _one_process():
    model = Encoders()
    loss = model.loss(_global_batch())["itc"]
    loss.backward()
    return loss.item(), _grads(model)


def test_ddp_full_gather_equals_one_process_over_the_global_batch(ddp_run):
    _, ranks = ddp_run
    loss, grads = _one_process()
    for r in ranks:
        assert r["world_size"] == W
        assert r["full"]["loss"] == pytest.approx(loss, rel=1e-6)
        for name, g in grads.items():  # DDP averages; the gather sends every rank's gradient to every slice
            torch.testing.assert_close(r["full"]["grads"][name], g, rtol=1e-5, atol=1e-7)


def test_ddp_local_gather_reproduces_the_original_mathematics(ddp_run):
    """The original AllGather returns only the local slice's gradient: after DDP's mean, the encoders get
    1/W of the global-batch gradient while the temperature (used after the gather) gets all of it."""
    _, ranks = ddp_run
    loss, grads = _one_process()
    for r in ranks:
        assert r["local"]["loss"] == pytest.approx(loss, rel=1e-6)  # the forward is the same
        for name, g in grads.items():
            expected = g if name == "temp" else g / W
            torch.testing.assert_close(r["local"]["grads"][name], expected, rtol=1e-5, atol=1e-7)
        assert not torch.allclose(r["local"]["grads"]["vision_proj.weight"], grads["vision_proj.weight"])


def test_ddp_training_equals_one_process_with_the_global_batch(ddp_run, tmp_path):
    """Samplers split each epoch across ranks, so W ranks x B images train like one process with W x B."""
    out, ranks = ddp_run
    model = Encoders()
    _train(model, tmp_path / "state", B * W)
    for r in ranks:
        for name, p in model.named_parameters():
            torch.testing.assert_close(r["trained"][name], p.detach(), rtol=1e-4, atol=1e-6)
    saved = torch.load(out / "state", weights_only=False)  # written once, by rank 0, with every rank's RNG
    assert saved["world_size"] == W and len(saved["rng"]) == W and saved["step"] == 6
    assert not list(out.glob(".state.*"))  # no temporary file left behind


def test_sigterm_on_one_rank_stops_every_rank_after_the_same_step(ddp_run):
    """A preempted node's ranks get SIGTERM, the others not: all agree to save and stop (else they would
    wait in the next all-reduce until the timeout)."""
    out, ranks = ddp_run
    assert [r.get("preempted_after") for r in ranks] == [2, 2]
    assert torch.load(out / "preempted.state", weights_only=False)["step"] == 2
