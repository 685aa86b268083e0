"""Preemption and resume: SIGTERM saves and stops; after SIGKILL a rerun of the rule continues from its state."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from torch import nn

from ccrk.resume import Preempted
from ccrk.train import OptimConfig, epoch_loader, train_loop
from tests.conftest import REPO, TINY_MODEL, snakemake_command

STEPS_PER_EPOCH, EPOCHS = 4, 2


def toy_training(state_path, pause_at: int = 0) -> nn.Module:
    """A deterministic little run that prints each step to stdout and pauses 2 s in call `pause_at` (the
    parent sends its signal then)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    data = [(torch.randn(3), torch.randn(1)) for _ in range(4 * STEPS_PER_EPOCH)]
    calls = []

    def loss_fn(batch):
        calls.append(1)
        print("step", flush=True)
        time.sleep(2.0 if len(calls) == pause_at else 0.0)
        return {"mse": ((model(batch["x"]) - batch["y"]) ** 2).mean()}

    def batches(epoch, start):
        return epoch_loader(
            data,
            4,
            lambda b: {"x": torch.stack([x for x, _ in b]), "y": torch.stack([y for _, y in b])},
            seed=1,
            epoch=epoch,
            start_batch=start,
        )

    train_loop(
        model, loss_fn, batches, STEPS_PER_EPOCH, EPOCHS, OptimConfig(lr=0.1), state_path, save_every=100
    )
    return model


def child_main(state_path, out_path, pause_at):
    """The training process of the SIGTERM test: exit 143 (128 + SIGTERM) once the state is saved."""
    from ccrk.jobs import setup_logging

    setup_logging(None)
    try:
        model = toy_training(state_path, pause_at)
    except Preempted:
        sys.exit(143)
    torch.save(model.state_dict(), out_path)


def _child(state_path, out_path, pause_at=0):
    code = (
        f"from test_resume import child_main; child_main({str(state_path)!r}, {str(out_path)!r}, {pause_at})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_sigterm_saves_and_stops_and_a_rerun_resumes_exactly(tmp_path):
    state, out = tmp_path / "run.state", tmp_path / "final.pt"
    proc = _child(state, out, pause_at=3)
    for _ in range(3):  # SIGTERM while step 3 runs: mid-epoch, before any periodic save
        assert proc.stdout.readline() == "step\n"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"SIGTERM: saved the state at step 3 of 8 to {state}; rerun to resume" in err
    assert torch.load(state, weights_only=False)["step"] == 3 and not out.exists()

    proc = _child(state, out)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"resuming from {state} at step 3 of 8" in err and "trained steps 4-8 of 8 in this run" in err
    assert stdout.count("step") == 5  # exactly the steps that were left
    reference = toy_training(tmp_path / "reference.state")  # never interrupted
    for name, p in reference.state_dict().items():
        torch.testing.assert_close(torch.load(out)[name], p)


# -- a real rule, killed and rerun by Snakemake ------------------------------------------------------
def _tiny_config(path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["demo"].update(n_pretrain=24, n_train=8, n_valid=4, n_test=4, fewshot_sizes=[4], image_size=32)
    cfg["tokenizer"]["vocab_size"] = 300
    cfg["model"] = {
        **TINY_MODEL,
        "text": {**TINY_MODEL["text"], "max_position_embeddings": 50},
    }  # max_tokens 48
    # 3 steps per epoch x 3 epochs; a state every 2 steps and at each epoch end
    cfg["pretrain"].update(epochs=3, batch_size=8, save_every=2, num_workers=0)
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(workdir, configfile, *args, **popen):
    cmd = snakemake_command(workdir, "--configfile", configfile, "--cores", 1, *args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


@pytest.mark.slow
def test_pretrain_rule_killed_with_sigkill_resumes_on_rerun(tmp_path):
    configfile = _tiny_config(tmp_path / "tiny.yaml")
    model, state = tmp_path / "results/pretrain/model.pt", tmp_path / "results/pretrain/model.pt.state"
    run = _snakemake(tmp_path, configfile, "results/pretrain/model.pt", start_new_session=True)
    deadline = time.time() + 240
    while not state.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)  # snakemake and the training script, no chance to clean up
    log = run.communicate()[0]
    assert state.exists() and not model.exists(), f"no mid-run state to kill at:\n{log[-3000:]}"
    killed_at = torch.load(state, weights_only=False)["step"]
    assert 0 < killed_at < 9

    for args in (["--unlock"], ["results/pretrain/model.pt"]):  # what a user does after a crash
        rerun = _snakemake(tmp_path, configfile, *args)
        out = rerun.communicate(timeout=300)[0]
        assert rerun.returncode == 0, out[-3000:]
    text = (tmp_path / "logs/pretrain.log").read_text()
    assert f"resuming from results/pretrain/model.pt.state at step {killed_at} of 9" in text
    assert f"trained steps {killed_at + 1}-9 of 9 in this run (resumed at step {killed_at})" in text
    assert torch.load(model, weights_only=False)["step"] == 9  # the configured total, no more, no less
    assert not state.exists()  # the finished run leaves no state behind
