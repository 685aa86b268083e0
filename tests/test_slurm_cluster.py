"""profiles/slurm: which rules ask for GPUs, the sbatch lines the plugin builds from it, and a run on a real SLURM.

The last test starts a single-node SLURM (tools/slurm/setup.sh: munge, slurmctld, slurmd, slurmdbd with
MariaDB, a fake GPU) and runs part of the demo DAG through the profile. It needs root and apt-get (to
install the Debian packages) and skips with that reason otherwise. Every wait is bounded with
`timeout -s KILL`: the plugin waits forever when `sacct` fails.
"""

import contextlib
import fcntl
import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from ccrk.launch import launch_command
from tests.conftest import REPO, TINY_MODEL, snakemake_command

PROFILE = REPO / "profiles" / "slurm"
GPU_RULE = re.compile(r"^(pretrain|finetune|evaluate)(_.+)?$")
CPU_ONLY = {"pretrain_corpus"}  # named like a GPU stage, merges text files


def profile(monkeypatch, **env) -> dict:
    """The profile as Snakemake reads it (YTE rendered) under the given CCRK_SLURM_* variables."""
    from snakemake.profiles import ProfileConfigFileParser

    for key in [k for k in os.environ if k.startswith("CCRK_SLURM_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    with open(PROFILE / "config.yaml") as f:
        return ProfileConfigFileParser().parse(f)


def rule_resources(parsed: dict) -> dict[str, dict]:
    """set-resources as {rule: {name: value}}, values read as Snakemake reads them (ints stay ints)."""
    out: dict[str, dict] = {}
    for item in parsed["set-resources"]:
        rule, _, assignment = item.partition(":")
        name, _, value = assignment.partition("=")
        out.setdefault(rule, {})[name] = int(value) if value.isdigit() else value
    return out


def workflow_rules(configfile) -> tuple[set[str], set[str]]:
    """(every rule, the localrules) of the workflow under a config, parsed by Snakemake's API."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[configfile]),
            snakefile=REPO / "Snakefile",
            workdir=REPO,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            wf.list_rules()
        workflow = wf._workflow_store
        return {r.name for r in workflow.rules}, set(workflow._localrules)


@pytest.mark.parametrize("configfile", ["config.yaml", "paper.yaml"])
def test_gpu_stages_request_a_gpu_and_no_other_rule_does(monkeypatch, configfile):
    rules, local = workflow_rules(REPO / "config" / configfile)
    for request, key in (("gpu", "gpu"), ("gres", "gres")):
        parsed = profile(monkeypatch, CCRK_SLURM_GPU_REQUEST=request)
        assert not any(r.startswith(("gpu=", "gres=")) for r in parsed["default-resources"])
        resources = rule_resources(parsed)
        for rule in rules - local:
            asked = resources.get(rule, {})
            if GPU_RULE.match(rule) and rule not in CPU_ONLY:
                assert re.fullmatch(r"[1-9]|gpu:[1-9]", str(asked.get(key))), (
                    f"add {rule} to profiles/slurm as a gpu_job"
                )
                assert asked["runtime"] >= 60 and asked["mem_mb"] >= 16000
            else:
                assert "gpu" not in asked and "gres" not in asked, rule
    assert {"pretrain_corpus", "all"} <= local  # cheap rules stay on the submit host
    assert parsed["latency-wait"] == "60" and parsed["executor"] == "slurm"


def test_account_and_partitions_come_from_the_environment(monkeypatch):
    assert not any(r.startswith("slurm_") for r in profile(monkeypatch)["default-resources"])
    parsed = profile(
        monkeypatch, CCRK_SLURM_ACCOUNT="proj1", CCRK_SLURM_PARTITION="cpu", CCRK_SLURM_GPU_PARTITION="gpu"
    )
    assert {"slurm_account=proj1", "slurm_partition=cpu"} <= set(parsed["default-resources"])
    assert rule_resources(parsed)["pretrain"]["slurm_partition"] == "gpu"
    with pytest.raises(Exception, match="CCRK_SLURM_GPU_REQUEST"):
        profile(monkeypatch, CCRK_SLURM_GPU_REQUEST="cuda")


class _Resources(dict):
    __getattr__ = dict.__getitem__


def sbatch_line(resources: dict, threads: int = 8) -> str:
    """What the plugin submits for a rule with these resources (its own code, no cluster needed)."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = SimpleNamespace(resources=_Resources(resources), threads=threads)
    params = {
        "run_uuid": "u",
        "slurm_logfile": "l",
        "comment_str": "c",
        "account": "",
        "partition": "",
        "workdir": "",
    }
    return get_submit_command(job, params) + set_gres_string(job)


@pytest.mark.parametrize(
    "env,sbatch,launcher",
    [
        # the paper's 2 GPUs (the default): one node, torchrun
        (
            {},
            ["--gpus=2", "--cpus-per-task=8"],
            "torch.distributed.run --standalone --nnodes=1 --nproc-per-node=2",
        ),
        ({"CCRK_SLURM_PRETRAIN_GPUS": 1}, ["--gpus=1"], None),  # one GPU: training in the job's own process
        ({"CCRK_SLURM_PRETRAIN_GPUS": 1, "CCRK_SLURM_GPU_REQUEST": "gres"}, ["--gres=gpu:1"], None),
        (
            {"CCRK_SLURM_PRETRAIN_GPUS": 4, "CCRK_SLURM_PRETRAIN_NODES": 2},
            ["--nodes=2", "--ntasks-per-node=4", "--gres=gpu:4"],
            "srun -n 8 --ntasks-per-node=4 --kill-on-bad-exit=1",
        ),
        (
            {"CCRK_SLURM_PRETRAIN_GPUS": 1, "CCRK_SLURM_PRETRAIN_NODES": 3, "CCRK_SLURM_GPU_MODEL": "h100"},
            ["--nodes=3", "--ntasks=3", "--gres=gpu:h100:1"],
            "srun -n 3 --kill-on-bad-exit=1",
        ),
    ],
)
def test_sbatch_and_launch_commands_for_each_layout(monkeypatch, env, sbatch, launcher):
    res = rule_resources(profile(monkeypatch, **env))["pretrain"]
    line = sbatch_line(res)
    for flag in sbatch:
        assert flag in line.split(), line
    assert "--signal=TERM@300" in line  # time limit: SIGTERM 5 min early, training saves its state
    cmd = launch_command(res, "spec.pkl")  # what workflow/scripts/pretrain.py then runs inside the job
    if launcher is None:
        assert cmd is None
    else:
        assert launcher in " ".join(cmd)
    assert "--gpus" not in sbatch_line(rule_resources(profile(monkeypatch))["tokenizer"], threads=1)


def test_translation_asks_for_a_gpu_only_when_told(monkeypatch):
    assert "gpu" not in rule_resources(profile(monkeypatch))["translate"]  # the demo's phrase table
    assert "--gpus=1" in sbatch_line(
        rule_resources(profile(monkeypatch, CCRK_SLURM_TRANSLATE_GPUS=1))["translate"]
    )


# -- a real single-node SLURM ---------------------------------------------------------------------------
def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the test SLURM cluster needs root (daemons, /etc/slurm, apt-get install)"
    if not shutil.which("apt-get"):
        return "the test SLURM cluster needs apt-get (Debian/Ubuntu packages munge, slurm*, mariadb)"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    """munge + slurmctld + slurmd + slurmdbd/MariaDB on this machine, 2 fake GPUs; stopped afterwards."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    with open("/tmp/ccrk-slurm-test.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one test cluster per machine at a time
        env = {**os.environ, "FAKE_GPUS": "2", "NODE_CPUS": "16", "NODE_MEM_MB": "262144", "CI_ACCOUNT": "ci"}
        setup = subprocess.run(
            ["timeout", "-s", "KILL", "150", "bash", str(REPO / "tools/slurm/setup.sh")],
            env=env,
            capture_output=True,
            text=True,
        )
        try:
            assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
            yield
        finally:
            subprocess.run(["timeout", "-s", "KILL", "180", "bash", str(REPO / "tools/slurm/teardown.sh")])


def _tiny_config(path: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["demo"].update(n_pretrain=24, n_train=8, n_valid=4, n_test=4, fewshot_sizes=[4], image_size=32)
    cfg["tokenizer"]["vocab_size"] = 300
    cfg["translate"]["shards"] = 2
    cfg["model"] = {**TINY_MODEL, "text": {**TINY_MODEL["text"], "max_position_embeddings": 50}}
    cfg["pretrain"].update(epochs=1, batch_size=4, num_workers=0)  # 2 ranks x 3 steps of 4 images
    path.write_text(yaml.safe_dump(cfg))
    return path


def _slurm_jobs(workdir: Path) -> dict[str, list[str]]:
    """rule -> SLURM job ids, from the plugin's log files (.snakemake/slurm_logs/rule_<name>/[wildcards/]<id>.log)."""
    jobs: dict[str, list[str]] = {}
    for log in (workdir / ".snakemake" / "slurm_logs").rglob("*.log"):
        rule = next(
            p for p in log.relative_to(workdir / ".snakemake" / "slurm_logs").parts if p.startswith("rule_")
        )
        jobs.setdefault(rule.removeprefix("rule_"), []).append(log.stem)
    return jobs


def _sacct(job_ids) -> dict[str, dict]:
    out = subprocess.run(
        [
            "timeout",
            "-s",
            "KILL",
            "30",
            "sacct",
            "-X",
            "--parsable2",
            "--noheader",
            "-j",
            ",".join(job_ids),
            "--format=JobID,State,Account,ReqTRES,AllocTRES",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line]
    return {r[0]: dict(zip(["state", "account", "req", "alloc"], r[1:])) for r in rows}


@pytest.mark.slow
@pytest.mark.slurm
def test_demo_stages_through_the_profile_on_a_real_slurm(slurm_cluster, tmp_path):
    """demo data, translation and tokenizer as CPU jobs, the corpus merge locally, and pretraining as a GPU
    job of 2 fake GPUs with one srun task each (the MPI path, DDP over gloo), through profiles/slurm."""
    configfile = _tiny_config(tmp_path / "tiny.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCRK_SLURM_")}
    env.update(
        CCRK_SLURM_ACCOUNT="ci",
        CCRK_SLURM_PARTITION="debug",
        CCRK_SLURM_PRETRAIN_GPUS="2",
        CCRK_SLURM_PRETRAIN_LAUNCH="srun",
    )
    cmd = [
        "timeout",
        "-s",
        "KILL",
        "300",
        *snakemake_command(tmp_path, "--configfile", configfile, "--profile", PROFILE),
        # test speed only: first status check after 2 s (default 40), one thread per job, keep the job logs
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--max-threads",
        "1",
        "--slurm-keep-successful-logs",
        "--latency-wait",
        "5",
        "results/pretrain/model.pt",
    ]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    jobs = _slurm_jobs(tmp_path)
    assert {r: len(ids) for r, ids in jobs.items()} == {
        "demo_dataset": 1,
        "translate": 2,
        "tokenizer": 1,
        "pretrain": 1,
    }  # pretrain_corpus ran locally
    acct = _sacct([i for ids in jobs.values() for i in ids])
    for rule, ids in jobs.items():
        for job in ids:
            row = acct[job]
            assert row["state"] == "COMPLETED" and row["account"] == "ci", (rule, row)
            if rule == "pretrain":
                assert "gres/gpu=2" in row["req"].split(",") and "gres/gpu=2" in row["alloc"].split(","), row
            else:
                assert "gres/gpu" not in row["req"] + row["alloc"], (rule, row)

    log = (tmp_path / "logs" / "pretrain.log").read_text()
    assert "starting 2 processes: srun -n 2 --ntasks-per-node=2 --kill-on-bad-exit=1" in log
    assert "in 2 process(es): steps 1-3 of 3" in log and "trained steps 1-3 of 3" in log
    model = torch.load(tmp_path / "results" / "pretrain" / "model.pt", weights_only=False)
    assert model["step"] == 3 and model["model"]  # complete: written once, by rank 0
    assert not list((tmp_path / "results" / "pretrain").glob("*.state")) and not list(
        (tmp_path / "results" / "pretrain").glob("*.launch")
    )
