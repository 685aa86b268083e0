"""Run a training function in this process, under torchrun on one node, or as SLURM tasks across nodes.

A Snakemake job's resources choose the launcher (profiles/slurm sets them):
- nothing, or gpu=1: this process (it joins a process group if torchrun/srun started it);
- gpu=N (or gres="gpu:N") on one node: `python -m torch.distributed.run --standalone --nproc-per-node=N`;
- mpi="srun" with tasks=N (or nodes x tasks_per_node): the plugin's MPI path, one task per GPU, possibly
  on several nodes; every task reads SLURM_PROCID/SLURM_LOCALID/SLURM_NTASKS.
The function and its arguments travel to the workers in a pickle beside the output (`python -m ccrk.launch`).
"""

import contextlib
import importlib
import logging
import os
import pickle
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from ccrk.io import atomic_path

log = logging.getLogger("ccrk.launch")


def gpus_requested(resources: Mapping) -> int:
    """GPUs a job asked for: `gpu`/`gpus` (sbatch --gpus=N) or `gres` ('gpu:N' / 'gpu:model:N'); 0 if none."""
    for key in ("gpu", "gpus"):
        if resources.get(key):
            return int(resources[key])
    gres = str(resources.get("gres") or "")
    for item in gres.split(","):
        parts = item.split(":")
        if parts[0] == "gpu":
            return int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else 1
    return 0


def mpi_tasks(resources: Mapping) -> int:
    """Tasks of an MPI job: `tasks`, or `nodes` x `tasks_per_node`."""
    if resources.get("tasks"):
        return int(resources["tasks"])
    return int(resources.get("nodes") or 1) * int(resources.get("tasks_per_node") or 1)


def worker_command(spec_path) -> list[str]:
    return [sys.executable, "-m", "ccrk.launch", str(spec_path)]


def launch_command(resources: Mapping, spec_path) -> list[str] | None:
    """The command that starts the worker processes, or None to run in this process."""
    if resources.get("mpi"):
        n = mpi_tasks(resources)
        launcher = shlex.split(str(resources["mpi"]))
        extra = (
            [f"--ntasks-per-node={resources['tasks_per_node']}"] if resources.get("tasks_per_node") else []
        )
        if (
            Path(launcher[0]).name == "srun"
        ):  # one failed task ends the step (the others would wait in a collective)
            extra.append("--kill-on-bad-exit=1")
        return [*launcher, "-n", str(n), *extra, *worker_command(spec_path)]
    n = gpus_requested(resources)
    if n > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nnodes=1",
            f"--nproc-per-node={n}",
            *worker_command(spec_path)[1:],
        ]
    return None


def launched_processes(resources: Mapping) -> int:
    if resources.get("mpi"):
        return mpi_tasks(resources)
    return max(1, gpus_requested(resources))


def run(
    fn: Callable,
    args: tuple = (),
    kwargs: dict | None = None,
    resources: Mapping | None = None,
    *,
    spec_path,
    log_path=None,
    threads: int = 1,
):
    """Call fn(*args, device=..., **kwargs) in the processes `resources` ask for; its result in one process.

    `spec_path` is where the pickled call waits for the workers (removed afterwards). The workers' rank 0
    appends to `log_path`; a non-zero exit of any worker raises CalledProcessError here.
    """
    resources, kwargs = dict(resources or {}), dict(kwargs or {})
    cmd = launch_command(resources, spec_path)
    if cmd is None:
        return call_here(fn, args, kwargs, threads)
    n = launched_processes(resources)
    per_process = threads if resources.get("mpi") else max(1, threads // n)  # srun tasks get their own CPUs
    spec = {
        "fn": f"{fn.__module__}:{fn.__qualname__}",
        "args": tuple(args),
        "kwargs": kwargs,
        "log_path": str(log_path or ""),
        "threads": per_process,
    }
    with atomic_path(spec_path) as tmp:
        tmp.write_bytes(pickle.dumps(spec))
    log.info("starting %d processes: %s", n, shlex.join(cmd))
    _append_from_now_on()
    try:
        _run_forwarding_sigterm(cmd)
    finally:
        Path(spec_path).unlink(missing_ok=True)
    return None


def run_in_job(smk, fn: Callable, *args, **kwargs):
    """A rule script's call of a training function, launched as the job's resources ask (see module doc)."""
    return run(
        fn,
        _plain(args),
        _plain(kwargs),
        dict(smk.resources.items()),
        spec_path=f"{smk.output[0]}.launch",
        log_path=smk.log[0] if smk.log else None,
        threads=smk.threads,
    )


def _plain(x):
    """Snakemake's file names (str subclasses) and named lists as plain str, list and dict, for pickling."""
    if isinstance(x, str):
        return str(x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x) if type(x) in (list, tuple) else [_plain(v) for v in x]
    return x


def _append_from_now_on() -> None:
    """Reopen this process's log files in append mode, so that its later lines never overwrite the workers'."""
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.FileHandler):
            h.mode = "a"
            h.close()  # reopened (appending) on the next record


def _run_forwarding_sigterm(cmd: list[str]) -> None:
    """Run `cmd`; a SIGTERM to this process (SLURM preemption) goes on to the workers, which save and exit."""
    proc = subprocess.Popen(cmd, start_new_session=True)

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    old = signal.signal(signal.SIGTERM, forward)
    try:
        rc = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, old)
    if rc != 0:
        raise subprocess.CalledProcessError(rc, cmd)


def call_here(fn: Callable, args: tuple = (), kwargs: dict | None = None, threads: int | None = None):
    """Run fn in this process, inside the process group the environment describes (torchrun, srun) if any."""
    from ccrk.distributed import init_distributed, shutdown_distributed
    from ccrk.train import cpu_threads

    kwargs = kwargs or {}
    if threads:
        cpu_threads(threads)
    device = init_distributed()
    try:
        return fn(*args, **kwargs, device=str(device))
    finally:
        shutdown_distributed()


def _resolve(name: str) -> Callable:
    module, _, qualname = name.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def worker_main(spec_path: str) -> None:
    """One worker: rank 0 logs to the rule's log (appending), the others to stderr, warnings only."""
    from ccrk.distributed import dist_env_from_environ
    from ccrk.jobs import go_offline, setup_logging

    spec = pickle.loads(Path(spec_path).read_bytes())
    env = dist_env_from_environ()
    go_offline()
    if env.rank == 0:
        setup_logging(spec["log_path"] or None, mode="a")
    else:
        setup_logging(None, level=logging.WARNING, prefix=f"[rank {env.rank}] ")
    try:
        call_here(_resolve(spec["fn"]), spec["args"], spec["kwargs"], spec["threads"])
    except Exception:
        logging.getLogger("ccrk.launch").exception("rank %d failed", env.rank)
        raise


if __name__ == "__main__":
    worker_main(sys.argv[1])
