"""Rank and world size from torchrun or SLURM; joining the process group; all-gathers that are no-ops in one process."""

import contextlib
import contextvars
import datetime
import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

GATHER_GRAD_MODES = ("full", "local")
_gather_grad = contextvars.ContextVar("gather_grad", default="full")


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0  # global rank of this process
    local_rank: int = 0  # GPU index on this node
    world_size: int = 1  # number of processes in the job


def dist_env_from_environ(environ=None) -> DistEnv:
    """Read torchrun's RANK/LOCAL_RANK/WORLD_SIZE, else SLURM's SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS.

    SLURM counts only inside an srun step (SLURM_STEP_ID set): a batch script of an --ntasks=8 job also
    sees SLURM_PROCID=0 and SLURM_NTASKS=8, yet it is one process.
    """
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv(int(env["RANK"]), int(env.get("LOCAL_RANK", 0)), int(env["WORLD_SIZE"]))
    tasks = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or 1)
    if "SLURM_PROCID" in env and "SLURM_STEP_ID" in env and tasks > 1:
        return DistEnv(int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", 0)), tasks)
    return DistEnv()


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list, 'gpu[03-05,07],cpu1' -> 'gpu03', as `scontrol show hostnames`."""
    depth, end = 0, len(nodelist)
    for i, c in enumerate(nodelist):  # the first entry ends at the first comma outside brackets
        depth += {"[": 1, "]": -1}.get(c, 0)
        if c == "," and depth == 0:
            end = i
            break
    return re.sub(r"\[([^\]]*)\]", lambda m: re.split(r"[,-]", m.group(1))[0], nodelist[:end])


def rendezvous_environ(environ=None) -> dict[str, str]:
    """MASTER_ADDR/MASTER_PORT for tasks started by srun: rank 0 runs on the step's first host; the port
    comes from the job id, so that two jobs sharing a node do not collide. Values already set win."""
    env = os.environ if environ is None else environ
    out = {}
    if "MASTER_ADDR" not in env:
        nodelist = (
            env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        )
        out["MASTER_ADDR"] = first_host(nodelist) if nodelist else "127.0.0.1"
    if "MASTER_PORT" not in env:
        out["MASTER_PORT"] = str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000)
    return out


def device_for(env: DistEnv) -> torch.device:
    """cuda:<local rank> when each task sees every GPU of its node, cuda:0 when SLURM bound one GPU per task."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", env.local_rank if torch.cuda.device_count() > 1 else 0)


def init_distributed(
    env: DistEnv | None = None, backend: str | None = None, timeout_min: int = 60
) -> torch.device:
    """Join the process group the environment describes (nothing to join in one process); returns the device."""
    env = env or dist_env_from_environ()
    device = device_for(env)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if env.world_size > 1 and not is_distributed():
        os.environ.update(rendezvous_environ())
        dist.init_process_group(
            backend or ("nccl" if device.type == "cuda" else "gloo"),
            rank=env.rank,
            world_size=env.world_size,
            timeout=datetime.timedelta(minutes=timeout_min),
        )
    return device


def shutdown_distributed() -> None:
    if is_distributed():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Rank 0: the one process that writes files and logs progress."""
    return rank() == 0


def barrier() -> None:
    if is_distributed() and world_size() > 1:
        dist.barrier()


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on any rank (e.g. one of them got SIGTERM)."""
    if not is_distributed() or world_size() == 1:
        return flag
    t = torch.tensor([int(flag)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def all_gather_objects(obj) -> list:
    """One picklable object from every rank, in rank order."""
    if not is_distributed() or world_size() == 1:
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


@contextlib.contextmanager
def gather_grad(mode: str):
    """Choose the backward of `all_gather_with_grad` inside the block (see there); "full" outside any block."""
    if mode not in GATHER_GRAD_MODES:
        raise ValueError(f"gather_grad must be one of {GATHER_GRAD_MODES}, got {mode!r}")
    token = _gather_grad.set(mode)
    try:
        yield
    finally:
        _gather_grad.reset(token)


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` from every rank along dim 0, in rank order.

    "full": every rank's loss sends its gradient to every slice (summed across ranks in backward); with
    DDP's gradient averaging, training equals one process over the global batch.
    "local" (the original AllGather of CCLM/CCRK): the gradient reaches only this rank's own slice, so
    after DDP's averaging the encoders get 1/world_size of the global-batch gradient of a loss over the
    gathered features, while parameters used after the gather (the temperature) get all of it.
    """
    if not is_distributed() or world_size() == 1:
        return x
    if _gather_grad.get() == "full":
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank()] = x  # the one slice that stays in the graph
    return torch.cat(parts, dim=0)
