"""Resumable training state: atomic saves, a rerun that continues where a kill left off, SIGTERM = save and stop.

One state file per run (`<output>.state`) holds the model, optimizer, scheduler, AMP scaler, the RNG
states of every rank, the step and caller extras, tagged with a run id and the world size. Only rank 0
writes it; every rank reads it.
"""

import contextlib
import hashlib
import json
import logging
import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ccrk.distributed import all_gather_objects, barrier, is_main, rank, world_size
from ccrk.io import atomic_path

log = logging.getLogger("ccrk.train")


class Preempted(RuntimeError):
    """SIGTERM arrived (SLURM preemption or time limit): the state is saved, a rerun resumes from it."""


@dataclass
class LoopState:
    step: int = 0  # optimizer steps done
    extra: dict | None = None  # caller state, e.g. the best validation score so far


def fingerprint(*parts) -> str:
    """A short hash of what defines a run (configs, inputs); a resume state only fits the same run."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def decorrelate_ranks() -> None:
    """Give each rank its own random stream (augmentations, sampled negatives) from the common seed."""
    if world_size() > 1:
        seed = torch.initial_seed() + rank()
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)


def save_state(path, model, optimizer, scheduler, scaler, state: LoopState, run_id: str = "") -> None:
    """Every rank calls this (it gathers their RNG states); rank 0 writes the file atomically."""
    rngs = all_gather_objects(rng_state())
    if is_main():
        with atomic_path(path) as tmp:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler else None,
                    "step": state.step,
                    "extra": state.extra or {},
                    "rng": rngs,
                    "run_id": run_id,
                    "world_size": world_size(),
                },
                tmp,
            )
    barrier()  # nobody runs ahead (or exits) before the file is complete


def read_state(path, run_id: str) -> dict | None:
    """The saved state if it belongs to this run (same run id and world size), else None (and why, logged)."""
    if not Path(path).is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=False)  # our own file: holds RNG tuples
    if saved.get("run_id", "") != run_id:  # other settings or inputs: resuming would mix two runs
        log.warning("ignoring %s: it belongs to a different run (settings or inputs changed)", path)
        return None
    if saved.get("world_size", 1) != world_size():  # the data split per rank and steps per epoch differ
        log.warning(
            "ignoring %s: it was saved by %d processes, this run has %d",
            path,
            saved.get("world_size", 1),
            world_size(),
        )
        return None
    return saved


def load_state(ckpt: dict, model, optimizer, scheduler, scaler) -> LoopState:
    """Restore a state dict read from a file that `save_state` wrote; each rank gets its own RNG state."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if scaler and ckpt["scaler"]:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"][rank()])
    return LoopState(ckpt["step"], ckpt["extra"])


@contextlib.contextmanager
def sigterm_requested():
    """Yield a one-item list that turns [True] when SIGTERM arrives; the loop then saves and stops.

    SLURM sends SIGTERM before it kills a preempted or timed-out job (KillWait/GraceTime later, SIGKILL).
    """
    flag = [False]
    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        yield flag
        return

    def on_sigterm(signum, frame):
        flag[0] = True

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)
